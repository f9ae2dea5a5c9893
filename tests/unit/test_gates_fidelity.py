"""FID / KID / CLIP score: SKIPPED without local weights; with a local feature extractor in the
``inception-2015-12-05.pt`` TorchScript calling convention (a tiny random one here), loaded through
the same code as the real file, they are computed and rank a faithful video above a wrong one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gate_media import context, encode, pan, textured
from PIL import Image

from genserve.gates.measure import measure_case


def _tiny_inception(path: Path) -> Path:
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.proj = torch.nn.Linear(3 * 8 * 8, 24)

        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            pooled = torch.nn.functional.adaptive_avg_pool2d(x.float() / 255.0, 8)
            return self.proj(pooled.flatten(1))

    torch.jit.script(Tiny()).save(str(path))
    return path


def _contexts(tmp: Path, images: list[Path], frames: list[list[np.ndarray]], weights: Path | None) -> list:
    tmp.mkdir(parents=True, exist_ok=True)
    out = []
    for i, fr in enumerate(frames):
        ctx = context(tmp, encode(fr, tmp / f"v{i}.mp4", fps=8), result={})
        ctx.expected = {"reference": [str(p) for p in images]}
        if weights is not None:
            ctx.settings = ctx.settings.model_copy(update={"gate_inception_weights": weights})
        out.append(ctx)
    return out


def test_fid_kid_skipped_without_weights_and_computed_with_them(tmp_path: Path) -> None:
    refs = []
    for seed in range(6):
        p = tmp_path / f"ref{seed}.png"
        Image.fromarray(textured(seed=seed)).save(p)
        refs.append(p)
    faithful = [pan(textured(seed=s), 4, 1.0) for s in range(4)]
    wrong = [[np.full((128, 160, 3), 30 * s + 10 * i, np.uint8) for i in range(4)] for s in range(4)]
    skipped = measure_case(_contexts(tmp_path, refs, faithful, None), "image-to-video", ["fid", "kid"])
    assert skipped["fid"].status == "skipped" and "GENSERVE_GATE_INCEPTION_WEIGHTS" in (
        skipped["fid"].reason or ""
    )
    weights = _tiny_inception(tmp_path / "inception-tiny.pt")
    good = measure_case(_contexts(tmp_path / "a", refs, faithful, weights), "image-to-video", ["fid", "kid"])
    bad = measure_case(_contexts(tmp_path / "b", refs, wrong, weights), "image-to-video", ["fid", "kid"])
    for m in (good, bad):
        assert m["fid"].status == "ok", m["fid"].reason
        assert m["kid"].status == "ok", m["kid"].reason
    assert np.isfinite(good["fid"].value) and good["fid"].value < bad["fid"].value
    assert good["kid"].value < bad["kid"].value
    assert good["fid"].detail == {"reference_images": 6, "generated_frames": 16}


def test_clip_score_is_skipped_without_a_local_model(tmp_path: Path) -> None:
    from genserve.gates.measure import measure_asset

    ctx = context(
        tmp_path,
        encode(pan(textured(), 4, 1.0), tmp_path / "v.mp4", fps=8),
        result={"parameters": {"prompt": "a cat"}},
    )
    m = measure_asset(ctx, ["clip_score"])
    assert m["clip_score"].status == "skipped"
    ctx.settings = ctx.settings.model_copy(update={"gate_clip_model": tmp_path / "missing"})
    m = measure_asset(ctx, ["clip_score"])
    assert m["clip_score"].status == "skipped" and "not found" in (m["clip_score"].reason or "")


@pytest.mark.parametrize("n", [1])
def test_too_few_images_is_skipped(tmp_path: Path, n: int) -> None:
    ref = tmp_path / "r.png"
    Image.fromarray(textured()).save(ref)
    weights = _tiny_inception(tmp_path / "w.pt")
    m = measure_case(
        _contexts(tmp_path, [ref] * n, [pan(textured(), 4, 1.0)], weights), "image-to-video", ["fid"]
    )
    assert m["fid"].status == "skipped" and "at least 2" in (m["fid"].reason or "")
