"""modelscope-general offline: a model folder laid out like damo/cv_resnest101_general_recognition
(configuration.json, random-weight pytorch_model.pt, meta_info.txt), loaded through the real code."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from genserve.config import Settings
from genserve.jobs import JobRequest, run_job
from genserve.jobs.runner import BackendCache

torch = pytest.importorskip("torch")

from genserve.backends.modelscope_general import build_resnest, read_labels  # noqa: E402

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
LABELS = ["狗", "猫", "汽车", "发票", "书籍", "手机"]


def make_model_folder(root: Path, favourite: int = 3, labels: list[str] = LABELS) -> Path:
    """A tiny ResNeSt (1 block a stage, narrow) whose fc bias makes class ``favourite`` win."""
    torch.manual_seed(0)
    model = build_resnest(layers=(1, 1, 1, 1), num_classes=len(LABELS), stem_width=8, base=8)
    with torch.no_grad():
        model.fc.bias.zero_()
        model.fc.bias[favourite] = 12.0
    folder = root / "cv_resnest101_general_recognition"
    folder.mkdir()
    (folder / "configuration.json").write_text(
        json.dumps(
            {
                "framework": "pytorch",
                "task": "general-recognition",
                "pipeline": {"type": "general-recognition"},
            }
        )
    )
    # as a training script saves it: wrapped in state_dict, parameter names from DataParallel
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state}, folder / "pytorch_model.pt")
    # the label file's lines end in a newline the ModelScope pipeline leaves in its labels
    (folder / "meta_info.txt").write_text(
        "".join(f"{i}\t{name}\n" for i, name in enumerate(labels)), encoding="utf-8"
    )
    return folder


def page(tmp_path: Path) -> Path:
    img = Image.new("RGB", (640, 200), "white")
    if FONT.exists():
        ImageDraw.Draw(img).text((30, 60), "增值税发票", font=ImageFont.truetype(str(FONT), 48), fill="black")
    path = tmp_path / "invoice.png"
    img.save(path)
    return path


def recognize(settings: Settings, image: Path, model: str, **params: Any) -> Any:
    request = JobRequest(
        task="recognize", inputs={"image": image}, params=params, backend="modelscope-general", model=model
    )
    return run_job(request, settings=settings, cache=BackendCache(1))


def test_top_k_softmax_labels_and_text_in_one_result(settings: Settings, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path)
    result = recognize(settings, page(tmp_path), str(folder), top_k=len(LABELS))
    assert result.status == "succeeded", result.message
    data = result.model_dump()
    objects = data["objects"]
    # every class, best first, probabilities (not the pipeline's raw top-1 logit) that sum to 1
    assert objects[0]["label"] == "发票"
    assert objects[0]["score"] > 0.99 and objects[0]["class_id"] == 3
    assert sum(o["score"] for o in objects) == pytest.approx(1.0, abs=1e-3)
    assert sorted(o["label"] for o in objects) == sorted(LABELS)
    assert not any("\n" in o["label"] or "\t" in o["label"] for o in objects)
    assert data["model"] == str(folder) and data["provenance"]["num_labels"] == len(LABELS)
    if FONT.exists():
        assert "".join(b["text"] for b in data["text_blocks"]) == "增值税发票"


def test_top_k_limits_and_min_score_filters(settings: Settings, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path, favourite=0)
    result = recognize(settings, page(tmp_path), str(folder), top_k=2, ocr=False, min_score=0.5)
    assert result.status == "succeeded", result.message
    objects = result.model_dump()["objects"]
    assert [o["label"] for o in objects] == ["狗"]  # the runner-up is far below 0.5


def test_network_runs_without_torchvision(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = make_model_folder(tmp_path)
    code = (
        "import sys; sys.modules['torchvision'] = None\n"  # any import of torchvision now fails
        "from pathlib import Path\n"
        "from PIL import Image\n"
        "from genserve.backends.modelscope_general import GeneralRecognizer\n"
        f"r = GeneralRecognizer(Path({str(folder)!r})); r.load('cpu')\n"
        "print(r.classify([Image.new('RGB', (300, 200), 'gray')], 1)[0][0]['label'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "发票"


def test_meta_info_parsing(tmp_path: Path) -> None:
    path = tmp_path / "meta_info.txt"
    path.write_text("0\t狗\n1\t中华田园犬\r\n\n2\tcat\n", encoding="utf-8")
    assert read_labels(path) == ["狗", "中华田园犬", "cat"]


@pytest.mark.parametrize(
    ("break_it", "error", "words"),
    [
        (lambda f: (f / "meta_info.txt").unlink(), "not_found", "has no meta_info.txt"),
        (
            lambda f: (f / "meta_info.txt").write_text("0\t狗\n", encoding="utf-8"),
            "invalid_input",
            "has 1 labels but the checkpoint has 6 classes",
        ),
        (
            lambda f: (f / "configuration.json").write_text('{"task": "image-captioning"}'),
            "invalid_input",
            "not general-recognition",
        ),
    ],
)
def test_broken_model_folders_fail_clearly(
    settings: Settings, tmp_path: Path, break_it: Any, error: str, words: str
) -> None:
    folder = make_model_folder(tmp_path)
    break_it(folder)
    result = recognize(settings, page(tmp_path), str(folder))
    assert result.status == "failed" and result.error == error
    assert words in (result.message or "") and "model" in (result.message or "")
    assert not list(Path(settings.output_dir).glob("*/*/result.json"))  # nothing half-written


def test_hub_id_without_modelscope_says_what_to_install(settings: Settings, tmp_path: Path) -> None:
    if importlib.util.find_spec("modelscope") is not None:
        pytest.skip("modelscope is installed here; the download path would reach the hub")
    result = recognize(settings, page(tmp_path), "damo/cv_resnest101_general_recognition")
    assert result.status == "failed" and result.error == "backend_unavailable"
    assert "pip install 'genserve[modelscope]'" in (result.message or "")
