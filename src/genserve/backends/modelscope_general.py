"""modelscope-general: Alibaba's 万物识别-中文-通用领域 (damo/cv_resnest101_general_recognition).

A ResNeSt-101 classifier over ~54k Chinese labels, plus the rapidocr text and layout, in one result.

How genserve runs it, and why not through ``modelscope.pipeline()``:

- modelscope 1.40.x breaks ``pipeline(Tasks.general_recognition, ...)`` (1.36-1.39 work);
- its ``GeneralRecognitionPipeline`` imports torchvision (for four transforms), and torchvision does
  not import against the CPU torch build genserve installs (their versions are pinned pairwise);
- the pipeline returns the top-1 only, as a raw logit, with the label's trailing newline.

So genserve builds the network itself in plain torch (:class:`ResNeSt`, the same parameter names
as ModelScope's checkpoint), preprocesses with PIL/numpy exactly as the pipeline does (shorter side
to 256, centre crop 224, ImageNet mean/std), and computes a softmax top-k over all classes with
clean labels. ModelScope is used only to download the model folder (``configuration.json``,
``pytorch_model.pt``, ``meta_info.txt``) when ``--model`` is a hub id rather than a local folder;
that part of modelscope needs neither torchvision nor a working ``pipeline()``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from genserve.backends.base import Availability
from genserve.backends.ocr import RapidOCRBackend
from genserve.config import Settings
from genserve.errors import BackendUnavailable, InvalidInput, NotFound, missing_extra

MODEL_ID = "damo/cv_resnest101_general_recognition"
WEIGHTS_FILE = "pytorch_model.pt"  # ModelScope's ModelFile.TORCH_MODEL_FILE
LABELS_FILE = "meta_info.txt"  # one class a line: "<index>\t<label>"
CONFIG_FILE = "configuration.json"
# NOTE: the pipeline's preprocessing (ModelScope GeneralRecognitionPipeline.preprocess)
RESIZE, CROP = 256, 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def build_resnest(
    layers: tuple[int, ...] = (3, 4, 23, 3), num_classes: int = 54092, stem_width: int = 64, base: int = 64
) -> Any:
    """ResNeSt (split attention, radix 2, deep stem, average-pool downsampling) in plain torch.

    ``(3, 4, 23, 3)`` with the defaults is ResNeSt-101 as the 万物识别 checkpoint holds it; smaller
    ``layers``/widths make the tiny random-weight models the tests load through the same code.
    """
    import torch
    from torch import nn

    class SplitAttention(nn.Module):
        """3x3 conv over ``radix`` groups, weighted per channel by a softmax over the groups."""

        def __init__(self, channels: int, stride: int, radix: int = 2) -> None:
            super().__init__()
            inter = max(channels * radix // 4, 32)
            self.radix, self.channels = radix, channels
            self.conv = nn.Conv2d(channels, channels * radix, 3, stride, 1, groups=radix, bias=False)
            self.bn0 = nn.BatchNorm2d(channels * radix)
            self.fc1 = nn.Conv2d(channels, inter, 1)
            self.bn1 = nn.BatchNorm2d(inter)
            self.fc2 = nn.Conv2d(inter, channels * radix, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.bn0(self.conv(x)))
            splits = torch.split(x, self.channels, dim=1)
            gap = nn.functional.adaptive_avg_pool2d(sum(splits), 1)  # type: ignore[arg-type]
            gap = torch.relu(self.bn1(self.fc1(gap)))
            att = self.fc2(gap).view(x.shape[0], 1, self.radix, -1).transpose(1, 2)
            att = torch.softmax(att, dim=1).reshape(x.shape[0], -1, 1, 1)
            weights = torch.split(att, self.channels, dim=1)
            return sum(w * s for w, s in zip(weights, splits, strict=True))  # type: ignore[return-value]

    class Bottleneck(nn.Module):
        def __init__(self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            # "avd": the stride moves out of the 3x3 conv into an average pool after it
            self.avd_layer = nn.AvgPool2d(3, stride, padding=1) if stride > 1 else None
            self.conv2 = SplitAttention(planes, stride=1)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.downsample = downsample

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.conv2(torch.relu(self.bn1(self.conv1(x))))
            if self.avd_layer is not None:
                out = self.avd_layer(out)
            out = self.bn3(self.conv3(out))
            residual = self.downsample(x) if self.downsample is not None else x
            return torch.relu(out + residual)

    class ResNeSt(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            s = stem_width
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, s, 3, 2, 1, bias=False),
                nn.BatchNorm2d(s),
                nn.ReLU(inplace=True),
                nn.Conv2d(s, s, 3, 1, 1, bias=False),
                nn.BatchNorm2d(s),
                nn.ReLU(inplace=True),
                nn.Conv2d(s, s * 2, 3, 1, 1, bias=False),
            )
            self.bn1 = nn.BatchNorm2d(s * 2)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            inplanes = s * 2
            stages = []
            for i, blocks in enumerate(layers):
                planes, stride = base * 2**i, 1 if i == 0 else 2
                downsample = nn.Sequential(
                    nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
                    nn.Conv2d(inplanes, planes * 4, 1, bias=False),
                    nn.BatchNorm2d(planes * 4),
                )
                stage = [Bottleneck(inplanes, planes, stride, downsample)]
                inplanes = planes * 4
                stage += [Bottleneck(inplanes, planes, 1, None) for _ in range(blocks - 1)]
                stages.append(nn.Sequential(*stage))
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.fc = nn.Linear(inplanes, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    if len(layers) != 4:
        raise ValueError("ResNeSt has four stages")
    return ResNeSt()


def read_labels(path: Path) -> list[str]:
    """Class names from meta_info.txt: the second tab-separated column, without the line's newline."""
    labels = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        labels.append((parts[1] if len(parts) > 1 else parts[0]).strip())
    return labels


def architecture_of(state: dict[str, Any]) -> dict[str, Any]:
    """Stage depths, widths and class count read from a checkpoint's parameter names and shapes."""
    depth = [0, 0, 0, 0]
    for key in state:
        found = re.match(r"layer([1-4])\.(\d+)\.", key)
        if found:
            stage, block = int(found.group(1)) - 1, int(found.group(2))
            depth[stage] = max(depth[stage], block + 1)
    try:
        return {
            "layers": tuple(depth),
            "num_classes": int(state["fc.weight"].shape[0]),
            "stem_width": int(state["conv1.0.weight"].shape[0]),
            "base": int(state["layer1.0.conv1.weight"].shape[0]),
        }
    except KeyError as exc:
        raise InvalidInput(
            f"is not a ResNeSt general-recognition checkpoint (no parameter {exc})",
            argument="model",
            fix=f"point --model at the {MODEL_ID} folder (with {WEIGHTS_FILE} and {LABELS_FILE})",
        ) from None


def clean_state_dict(raw: Any) -> dict[str, Any]:
    """The tensors of a checkpoint, unwrapped from ``state_dict`` and DataParallel's ``module.``."""
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict):
        raise InvalidInput(
            "does not hold a state dict",
            argument="model",
            fix=f"pass the {MODEL_ID} folder",
        )
    return {k.removeprefix("module.").replace(".module.", "."): v for k, v in state.items()}


class GeneralRecognizer:
    """The 万物识别 classifier from a model folder; ``classify`` gives a softmax top-k with clean labels."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.model: Any = None
        self.labels: list[str] = []
        self.device = "cpu"
        self._lock = threading.Lock()

    def load(self, device: str = "cpu") -> None:
        import torch

        # 1. files
        for name in (WEIGHTS_FILE, LABELS_FILE):
            if not (self.folder / name).is_file():
                raise NotFound(
                    f"model folder has no {name}",
                    argument="model",
                    value=str(self.folder),
                    fix=f"download {MODEL_ID} completely (genserve fetches it when --model is the hub id)",
                )
        config_path = self.folder / CONFIG_FILE
        if config_path.is_file():
            task = json.loads(config_path.read_text(encoding="utf-8")).get("task")
            if task not in (None, "general-recognition", "general_recognition"):
                raise InvalidInput(
                    f"is a ModelScope model for task '{task}', not general-recognition",
                    argument="model",
                    value=str(self.folder),
                    fix=f"use {MODEL_ID}",
                )
        # 2. weights: tensors only (weights_only), the network built to match them
        state = clean_state_dict(
            torch.load(self.folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        )
        arch = architecture_of(state)
        self.labels = read_labels(self.folder / LABELS_FILE)
        if len(self.labels) != arch["num_classes"]:
            raise InvalidInput(
                f"{LABELS_FILE} has {len(self.labels)} labels but the checkpoint has "
                f"{arch['num_classes']} classes",
                argument="model",
                value=str(self.folder),
                fix="use the meta_info.txt that came with these weights",
            )
        model = build_resnest(**arch)
        model.load_state_dict(state, strict=True)
        self.model = model.eval().to(device)
        self.device = device

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """Shorter side to 256 (bilinear), centre 224x224, scaled to [0, 1], ImageNet-normalised; CHW."""
        img = image.convert("RGB")
        w, h = img.size
        scale = RESIZE / min(w, h)
        size = (max(RESIZE, round(w * scale)), max(RESIZE, round(h * scale)))
        img = img.resize(size, Image.Resampling.BILINEAR)
        left, top = (size[0] - CROP) // 2, (size[1] - CROP) // 2
        arr = np.asarray(img.crop((left, top, left + CROP, top + CROP)), dtype=np.float32) / 255.0
        return ((arr - MEAN) / STD).transpose(2, 0, 1)

    def classify(self, images: list[Image.Image], k: int) -> list[list[dict[str, Any]]]:
        import torch

        batch = torch.from_numpy(np.stack([self.preprocess(img) for img in images])).to(self.device)
        with self._lock, torch.inference_mode():
            probs = torch.softmax(self.model(batch).float(), dim=-1)
            scores, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
        rows = []
        for row_scores, row_indices in zip(scores.tolist(), indices.tolist(), strict=True):
            rows.append(
                [
                    {"label": self.labels[i], "label_zh": self.labels[i], "score": round(s, 4), "class_id": i}
                    for s, i in zip(row_scores, row_indices, strict=True)
                ]
            )
        return rows

    def unload(self) -> None:
        self.model = None


def model_folder(spec: str, settings: Settings) -> Path:
    """A local model folder as given, or the hub id downloaded (or found in the cache) by ModelScope."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path.resolve()
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise NotFound(
            "is neither a model folder nor a ModelScope id (org/name)",
            argument="model",
            value=spec,
            fix=f"pass a folder with {WEIGHTS_FILE} and {LABELS_FILE}, or the id {MODEL_ID}",
        )
    try:
        from modelscope.hub.snapshot_download import snapshot_download
    except ImportError:
        raise missing_extra("modelscope", "modelscope") from None
    model_id, _, revision = spec.partition("@")
    try:
        found = snapshot_download(
            model_id,
            revision=revision or None,
            cache_dir=str(settings.model_cache_dir) if settings.model_cache_dir else None,
            local_files_only=settings.offline,
        )
    except Exception as exc:  # network, auth or a missing cache entry: one clear answer
        raise BackendUnavailable(
            f"model {model_id} is not available here ({type(exc).__name__}: {exc})",
            argument="model",
            fix="download it where the hub is reachable (`modelscope download --model "
            f"{model_id}`) and pass the folder as --model, or unset GENSERVE_OFFLINE",
        ) from None
    return Path(found)


class ModelScopeGeneralBackend(RapidOCRBackend):
    name = "modelscope-general"
    task = "recognize"
    description = "万物识别-中文-通用领域 (ResNeSt-101, ~54k Chinese labels) for objects, with rapidocr text."
    version = "1.0"
    requires = ("torch", "rapidocr", "onnxruntime")
    extra = "modelscope"
    weight_free = False
    devices = ("cpu", "cuda")
    default_model = MODEL_ID
    labels_model = MODEL_ID

    @classmethod
    def availability(cls, settings: Settings) -> Availability:
        state = super().availability(settings)
        if state.ok and importlib.util.find_spec("modelscope") is None:
            # the default model is downloaded by ModelScope; a model folder (--model DIR) runs without it
            return Availability(
                False,
                "missing package 'modelscope' (it downloads the model)",
                f"pip install 'genserve[{cls.extra}]'",
                explicit_ok=True,
            )
        return state

    def load_labeler(self, device: str) -> None:
        recognizer = GeneralRecognizer(model_folder(self.model or MODEL_ID, self.settings))
        recognizer.load(device)
        self.labeler = recognizer
        self.labels_warning = None

    def model_info(self) -> dict[str, Any]:
        info = super().model_info()
        if isinstance(self.labeler, GeneralRecognizer):
            info["num_labels"] = len(self.labeler.labels)
        return info
