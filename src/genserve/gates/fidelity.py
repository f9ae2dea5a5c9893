"""Fidelity metrics that need model weights: FID and KID (a local Inception feature extractor) and
the CLIP score (a local CLIP model). Without their weights they are SKIPPED, never passed.

FID / KID are set-level: they compare the frames of all videos of a case against the case's
reference images (its input images, or the ``reference`` images the suite names).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genserve.errors import missing_extra
from genserve.gates.context import MeasureContext
from genserve.gates.registry import MetricSkipped, get_metric, metric

FRAMES_PER_VIDEO = 16  # frames sampled evenly from each video


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise missing_extra("torch", "diffusers") from None
    return torch


class InceptionFeatures:
    """A TorchScript Inception feature extractor (the ``inception-2015-12-05.pt`` format: called as
    ``model(uint8 NCHW, return_features=True)`` -> (N, 2048)), as a torch module for torchmetrics."""

    def __new__(cls, path: Path) -> Any:
        torch = _torch()
        base: Any = torch.nn.Module

        class _Module(base):
            def __init__(self) -> None:
                super().__init__()
                self.model = torch.jit.load(str(path), map_location="cpu").eval()

            def forward(self, images: Any) -> Any:
                with torch.no_grad():
                    return self.model(images.to(torch.uint8), return_features=True)

        return _Module()


def sample_frames(frames: np.ndarray, count: int = FRAMES_PER_VIDEO) -> np.ndarray:
    idx = np.unique(np.linspace(0, len(frames) - 1, num=min(count, len(frames))).round().astype(int))
    return frames[idx]


def _batch(images: list[np.ndarray], size: int = 299) -> Any:
    import cv2

    torch = _torch()
    arr = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def _sets(contexts: list[MeasureContext]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from genserve.media.image import open_image

    ref_paths: dict[str, None] = {}  # each reference once, in order, however many assets name it
    fake: list[np.ndarray] = []
    for ctx in contexts:
        if ctx.video is None:
            continue
        fake += list(sample_frames(ctx.frames()))
        refs = ctx.expected.get("reference") or ([ctx.inputs["image"]] if "image" in ctx.inputs else [])
        ref_paths.update({str(p): None for p in refs})
    real = [np.asarray(open_image(Path(p), argument="reference")) for p in ref_paths]
    if len(real) < 2 or len(fake) < 2:
        raise MetricSkipped(
            f"needs at least 2 reference and 2 generated images (got {len(real)}, {len(fake)})"
        )
    return real, fake


def _set_metric(name: str, contexts: list[MeasureContext]) -> float:
    ctx0 = contexts[0]
    path = get_metric(name).weights_path(ctx0.settings)
    real, fake = _sets(contexts)
    features = InceptionFeatures(path)
    try:
        if name == "fid":
            from torchmetrics.image.fid import FrechetInceptionDistance

            m: Any = FrechetInceptionDistance(feature=features, reset_real_features=True)
        else:
            from torchmetrics.image.kid import KernelInceptionDistance

            subset = min(len(real), len(fake), 50)
            m = KernelInceptionDistance(feature=features, subsets=10, subset_size=subset)
    except ImportError:
        raise missing_extra("torchmetrics", "gates") from None
    m.update(_batch(real), real=True)
    m.update(_batch(fake), real=False)
    out = m.compute()
    value = out[0] if isinstance(out, tuple) else out
    ctx0.note(name, reference_images=len(real), generated_frames=len(fake))
    return float(value)


@metric(
    "fid",
    unit="FID",
    direction="lower",
    version="inception-2015-12-05-1",
    description="Fréchet Inception Distance of the case's frames to its reference images",
    outputs=("video",),
    weights="gate_inception_weights",
    scope="case",
)
def fid(contexts: list[MeasureContext]) -> float:
    return _set_metric("fid", contexts)


@metric(
    "kid",
    unit="KID",
    direction="lower",
    version="inception-2015-12-05-1",
    description="Kernel Inception Distance (mean over subsets) of the case's frames to its references",
    outputs=("video",),
    weights="gate_inception_weights",
    scope="case",
)
def kid(contexts: list[MeasureContext]) -> float:
    return _set_metric("kid", contexts)


def _clip(path: Path) -> tuple[Any, Any]:
    try:
        from transformers import CLIPModel, CLIPProcessor
    except ImportError:
        raise missing_extra("transformers", "diffusers") from None
    model = CLIPModel.from_pretrained(str(path), local_files_only=True).eval()
    processor = CLIPProcessor.from_pretrained(str(path), local_files_only=True)
    return model, processor


@metric(
    "clip_score",
    unit="score",
    direction="higher",
    version="clip-1",
    description="CLIP score: 100 x cosine similarity of the prompt and each sampled frame, averaged",
    tasks=("image-to-video",),
    weights="gate_clip_model",
)
def clip_score(ctx: MeasureContext) -> float:
    path = get_metric("clip_score").weights_path(ctx.settings)
    prompt = str(ctx.params().get("prompt") or "")
    if not prompt:
        raise MetricSkipped("the job has no prompt")
    torch = _torch()
    model, processor = _clip(path)
    frames = list(sample_frames(ctx.frames(), 8))
    with torch.no_grad():
        batch = processor(text=[prompt], images=frames, return_tensors="pt", padding=True, truncation=True)
        img = model.get_image_features(pixel_values=batch["pixel_values"])
        txt = model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        img = img / img.norm(dim=-1, keepdim=True)
        txt = txt / txt.norm(dim=-1, keepdim=True)
        # NOTE: CLIPScore (Hessel et al. 2021, torchmetrics): 100 * max(cos, 0)
        scores = (100.0 * (img @ txt.T).clamp(min=0)).squeeze(-1)
    return float(scores.mean())
