"""GPU benchmark: diffusers' default call vs genserve's tuned settings, per image-to-video model.

Each model's real-size architecture is built from ``bench/configs/<model>.json`` with random
weights (no download), so the figures are about compute, not about weights. For each model:

- ``default``: the pipeline as diffusers' model cards run it: fp16 on the GPU, the call's defaults
  (I2VGen-XL decodes one frame at a time, SVD all frames at once);
- ``tuned``: what genserve's backends do plus the speed options: bf16, SDPA attention, fused QKV
  projections where supported, ``torch.compile`` of the denoiser, VAE decode in chunks of 8.

Both runs use the same seed and latents; the script prints seconds, the ratio default/tuned, the
peak GPU memory of each, and how far the tuned frames are from the default ones (max abs difference
and PSNR on 0..255 frames). The goal is a ratio >= 1.5 with outputs equal within tolerance.

    python bench/gpu_i2v.py                      # all models, 512p, 16 frames, 50 steps
    python bench/gpu_i2v.py --model svd --steps 25
    python bench/gpu_i2v.py --check              # no GPU: build every architecture on the meta device

Text encoders are not built: the denoising loop is what is timed, so the prompt embeddings are
given as tensors of the encoder's output shape (T5-XXL alone would add 9 GiB).
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).parent / "configs"
MODELS = ("i2vgen-xl", "svd", "ltx-video")
DENOISER = {"i2vgen-xl": "unet", "svd": "unet", "ltx-video": "transformer"}


def load_config(model: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONFIGS / f"{model}.json").read_text())
    return data


def _symbol(path: str) -> Any:
    module, _, name = path.partition(":")
    if module == "diffusers" and not hasattr(importlib.import_module("diffusers"), name):
        return getattr(importlib.import_module("diffusers.models.unets"), name)
    return getattr(importlib.import_module(module), name)


def build_components(model: str, device: str = "meta", dtype: Any = None) -> dict[str, Any]:
    """Every component of ``model`` at real size with random weights, created on ``device``."""
    import torch

    spec = load_config(model)
    parts: dict[str, Any] = {}
    for name, comp in spec["components"].items():
        if comp is None:
            parts[name] = None
            continue
        cls = _symbol(comp["class"])
        if "config_class" in comp:
            with torch.device(device):
                parts[name] = cls(_symbol(comp["config_class"])(**comp["config"]))
        elif hasattr(cls, "from_config") and "Scheduler" not in comp["class"]:
            with torch.device(device):
                parts[name] = cls.from_config(comp["config"])
        else:
            parts[name] = cls(**comp["config"])  # schedulers and image processors: no weights
        if dtype is not None and hasattr(parts[name], "to"):
            parts[name] = parts[name].to(dtype=dtype)
    return parts


def count_parameters(parts: dict[str, Any]) -> dict[str, float]:
    """Parameters per component, in billions."""
    return {
        name: sum(p.numel() for p in part.parameters()) / 1e9
        for name, part in parts.items()
        if part is not None and hasattr(part, "parameters")
    }


def check(models: list[str]) -> list[dict[str, Any]]:
    """Build every model's architecture on the meta device (no memory, no GPU); its size in B params."""
    rows = []
    for model in models:
        t0 = time.perf_counter()
        params = count_parameters(build_components(model, "meta"))
        rows.append(
            {
                "model": model,
                "params_b": {k: round(v, 3) for k, v in params.items()},
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
    return rows


def _size(model: str, short_side: int) -> tuple[int, int]:
    """(width, height) for a 16:9-ish landscape clip with the given short side, per model's multiple."""
    multiple = 32 if model == "ltx-video" else 8
    width = round(short_side * 16 / 9 / multiple) * multiple
    return width, short_side


def _call_args(
    model: str, spec: dict[str, Any], args: argparse.Namespace, torch: Any, dtype: Any
) -> dict[str, Any]:
    from PIL import Image

    width, height = _size(model, args.resolution)
    frames = args.frames if model != "ltx-video" else 8 * ((args.frames - 1 + 7) // 8) + 1
    image = Image.new("RGB", (width, height), (120, 90, 60))
    call: dict[str, Any] = {
        "image": image,
        "height": height,
        "width": width,
        "num_frames": frames,
        "num_inference_steps": args.steps,
        "output_type": "np",
    }
    shapes = spec.get("text_embeddings") or {}
    gen = torch.Generator("cpu").manual_seed(0)
    for key, shape in shapes.items():
        if key.endswith("mask"):
            call[key] = torch.ones(shape, dtype=torch.long, device="cuda")
            call["negative_" + key] = torch.ones(shape, dtype=torch.long, device="cuda")
        else:
            call[key] = torch.randn(shape, generator=gen).to("cuda", dtype)
            call["negative_" + key] = torch.randn(shape, generator=gen).to("cuda", dtype)
    if model == "i2vgen-xl":
        call.update(target_fps=8, guidance_scale=9.0)
    elif model == "ltx-video":
        call.update(frame_rate=8, guidance_scale=3.0)
    return call


def _timed(pipe: Any, call: dict[str, Any], torch: Any, seed: int = 0) -> tuple[float, float, Any]:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    out = pipe(**call, generator=torch.Generator("cpu").manual_seed(seed))
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return seconds, torch.cuda.max_memory_allocated() / 2**30, out.frames[0]


def _pipeline(model: str, dtype: Any) -> Any:
    import diffusers

    spec = load_config(model)
    parts = build_components(model, "cuda", dtype)
    pipe = getattr(diffusers, spec["pipeline"])(**parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to("cuda"), spec


def bench(model: str, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch

    # 1. default: fp16, the call's own defaults
    pipe, spec = _pipeline(model, torch.float16)
    call = _call_args(model, spec, args, torch, torch.float16)
    _timed(pipe, {**call, "num_inference_steps": 2}, torch)  # warm-up (kernels, allocator)
    default_s, default_mem, default_frames = _timed(pipe, call, torch)
    del pipe
    torch.cuda.empty_cache()
    # 2. tuned: bf16, fused QKV, compiled denoiser, VAE decoded in chunks
    pipe, spec = _pipeline(model, torch.bfloat16)
    if model == "svd":  # its pipeline encodes a float32 image with the VAE: cast it to bf16 first
        pipe.vae.encoder.register_forward_pre_hook(lambda _m, a: (a[0].to(torch.bfloat16), *a[1:]))
    denoiser = getattr(pipe, DENOISER[model])
    if hasattr(pipe, "fuse_qkv_projections"):
        pipe.fuse_qkv_projections()
    if not args.no_compile:
        if model != "ltx-video":  # convolutional UNets prefer channels-last on tensor cores
            for layer in denoiser.modules():  # 2D convs only: their Conv3d weights have no such layout
                if isinstance(layer, torch.nn.Conv2d):
                    layer.to(memory_format=torch.channels_last)
        setattr(
            pipe, DENOISER[model], torch.compile(denoiser, mode="max-autotune-no-cudagraphs", fullgraph=False)
        )
    call = _call_args(model, spec, args, torch, torch.bfloat16)
    if model in ("i2vgen-xl", "svd"):
        call["decode_chunk_size"] = 8
    _timed(pipe, {**call, "num_inference_steps": 2}, torch)  # warm-up: compiles
    tuned_s, tuned_mem, tuned_frames = _timed(pipe, call, torch)
    del pipe
    torch.cuda.empty_cache()
    # 3. how close: frames as 0..255
    a = np.clip(np.rint(np.asarray(default_frames, dtype=np.float32) * 255), 0, 255)
    b = np.clip(np.rint(np.asarray(tuned_frames, dtype=np.float32) * 255), 0, 255)
    mse = float(np.mean((a - b) ** 2))
    return {
        "model": model,
        "size": "x".join(map(str, _size(model, args.resolution))),
        "frames": call["num_frames"],
        "steps": args.steps,
        "default_s": round(default_s, 2),
        "tuned_s": round(tuned_s, 2),
        "ratio": round(default_s / tuned_s, 2),
        "default_peak_gib": round(default_mem, 2),
        "tuned_peak_gib": round(tuned_mem, 2),
        "max_abs_diff": float(np.abs(a - b).max()),
        "psnr_db": round(10 * np.log10(255**2 / mse), 2) if mse > 0 else float("inf"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=[*MODELS, "all"], default="all")
    parser.add_argument("--resolution", type=int, default=512, help="short side in px")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--no-compile", action="store_true", help="tuned run without torch.compile")
    parser.add_argument(
        "--check", action="store_true", help="build the architectures on the meta device only"
    )
    args = parser.parse_args()
    models = list(MODELS) if args.model == "all" else [args.model]
    if args.check:
        for row in check(models):
            print(json.dumps(row))
        return
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: run with --check, or on a GPU machine")
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__}")
    for model in models:
        print(json.dumps(bench(model, args)), flush=True)


if __name__ == "__main__":
    main()
