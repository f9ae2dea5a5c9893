"""The shared adapter for image-to-video models served through a diffusers pipeline.

A model file (``i2vgen_xl.py``, ``svd.py``, ``ltx_video.py``) names its pipeline class and default
model and maps the task's parameters to the pipeline's arguments; everything else lives here:

- model source: a local pipeline folder or a hub id (see :mod:`genserve.models`), offline aware;
- device and dtype: CUDA in bf16 (fp16 where bf16 is not supported), CPU in fp32;
- memory-saving modes (smaller decode chunks, VAE tiling, model CPU offload, sequential offload),
  switched on up front when free GPU memory is short and otherwise one per out-of-memory retry;
- per-step progress (the pipeline's step callback, else a hook on the scheduler's step), which
  also makes a job cancelable between steps;
- seeding of both the pipeline's generator and torch's global RNG;
- GPU memory released on unload.

torch and diffusers are imported inside methods only: listing backends never imports them.
"""

from __future__ import annotations

import gc
import importlib.util
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from genserve.backends.base import Availability, Backend, Progress, RunOutput, VideoOutput
from genserve.errors import InvalidInput, missing_extra
from genserve.models import INDEX_FILE, fetch, parse_source, weights_present
from genserve.tasks.image_to_video import ImageToVideoInputs, ImageToVideoParams, output_size, short_side_px

# memory-saving modes, mildest first; each is tried once, in this order, when memory runs out
MEMORY_MODES: tuple[str, ...] = (
    "decode_chunk_size=1",
    "vae_tiling",
    "model_cpu_offload",
    "sequential_cpu_offload",
)
DEFAULT_DECODE_CHUNK = 8  # frames decoded by the VAE at once (unless memory is short)


def _torch() -> Any:
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("diffusers") is None:
        raise missing_extra("diffusers", "diffusers")
    import torch

    return torch


class DiffusersBackend(Backend):
    """An image-to-video backend backed by a diffusers pipeline (subclasses: one per model)."""

    task = "image-to-video"
    requires = ("torch", "diffusers", "transformers")
    extra = "diffusers"
    weight_free = False
    devices = ("cuda", "cpu")
    # the task's camera preset does not apply to generative models
    unsupported_params: ClassVar[tuple[str, ...]] = ("motion",)

    pipeline_class: ClassVar[str]  # diffusers class used to load and call the model
    # `_class_name`s of model_index.json this pipeline can be loaded from (same components)
    compatible_pipelines: ClassVar[tuple[str, ...]] = ()
    variant: ClassVar[str | None] = None  # weight variant fetched for the default hub model ("fp16")
    cuda_dtype: ClassVar[str | None] = None  # a dtype the model needs on CUDA (default: bf16, else fp16)
    size_multiple: ClassVar[int] = 8  # height and width must be multiples of this
    # NOTE: rough peak GPU memory (GiB) at 512p / 16 frames without memory-saving modes, measured
    # from the models' published guidance; only used to switch offload on up front when short.
    vram_gb: ClassVar[float] = 24.0

    def __init__(self, settings: Any, model: str | None = None) -> None:
        super().__init__(settings, model)
        self.pipe: Any = None
        self.revision: str | None = None
        self.source_kind: str | None = None
        self.dtype: str | None = None
        self.decode_chunk = DEFAULT_DECODE_CHUNK
        self.memory_modes: list[str] = []  # switched on, in order

    # -- availability ----------------------------------------------------------------------------

    @classmethod
    def availability(cls, settings: Any) -> Availability:
        state = super().availability(settings)
        if not state.ok:
            return state
        if cls.default_model and weights_present(cls.default_model, settings):
            return Availability(True)
        # not a default here, but runs when asked for by name (--model DIR, or a download)
        return Availability(
            False,
            f"the weights of {cls.default_model} are not on this machine",
            f"genserve models pull {cls.name}",
            explicit_ok=True,
        )

    # -- load / unload ---------------------------------------------------------------------------

    def load(self, device: str) -> None:
        torch = _torch()
        import diffusers

        assert self.model is not None
        # 1. where the weights are: a folder, the cache, or a download
        source = parse_source(self.model)
        variant = self.variant if source.kind == "hub" and source.repo_id == self.default_model else None
        folder, self.revision = fetch(
            source, self.settings, variant=variant, pull_hint=f"genserve models pull {self.model}"
        )
        self.source_kind = source.kind
        self._check_pipeline_kind(folder)
        # 2. dtype for the device, then load
        dtype = _dtype_for(torch, device, self.cuda_dtype)
        self.dtype = str(dtype).removeprefix("torch.")
        pipe_cls = getattr(diffusers, self.pipeline_class)
        pipe = pipe_cls.from_pretrained(str(folder), torch_dtype=dtype, variant=variant)
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe
        # 3. placement: on a GPU short of memory, save memory from the start
        if device.startswith("cuda") and _free_gpu_gib(torch, device) < self.vram_gb:
            for mode in ("vae_tiling", "model_cpu_offload"):
                self._apply_mode(mode, device)
        if "model_cpu_offload" not in self.memory_modes:
            pipe.to(device)
        self.device = device

    def unload(self) -> None:
        if self.pipe is not None:
            if any("offload" in m for m in self.memory_modes):
                self.pipe.remove_all_hooks()
            self.pipe = None
        self.memory_modes = []
        gc.collect()
        self.release_memory()
        self.device = None

    def release_memory(self) -> None:
        if "torch" in _loaded_modules():
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    # -- memory saving ---------------------------------------------------------------------------

    def enable_memory_saving(self) -> bool | str:
        """Switch on the next memory-saving mode this pipeline and device support; its name, or False."""
        assert self.device is not None
        for mode in MEMORY_MODES:
            if mode not in self.memory_modes and self._apply_mode(mode, self.device):
                return f"memory-saving: {mode}"
        return False

    def _apply_mode(self, mode: str, device: str) -> bool:
        pipe = self.pipe
        on_gpu = device.startswith("cuda")
        if mode == "decode_chunk_size=1":
            if "decode_chunk_size" not in inspect.signature(pipe.__call__).parameters:
                return False
            self.decode_chunk = 1
        elif mode == "vae_tiling":
            if not hasattr(pipe.vae, "use_tiling"):
                return False
            pipe.vae.enable_tiling()
        elif mode == "model_cpu_offload":
            if not on_gpu or "sequential_cpu_offload" in self.memory_modes:
                return False
            pipe.enable_model_cpu_offload(device=device)
        elif mode == "sequential_cpu_offload":
            if not on_gpu:
                return False
            if "model_cpu_offload" in self.memory_modes:
                pipe.remove_all_hooks()
            pipe.enable_sequential_cpu_offload(device=device)
        else:  # pragma: no cover - MEMORY_MODES is closed
            return False
        self.memory_modes.append(mode)
        return True

    # -- run -------------------------------------------------------------------------------------

    def run(self, inputs: ImageToVideoInputs, params: ImageToVideoParams, progress: Progress) -> RunOutput:
        torch = _torch()
        assert inputs.image is not None and self.pipe is not None and params.seed is not None
        warnings: list[str] = []
        # 1. geometry: the short side from `resolution` (capped by settings), aspect kept
        width, height = self.frame_size(inputs.image, params.resolution, warnings)
        image = inputs.image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        frames = self.frames_to_generate(params.num_frames)
        # 2. seed the pipeline's generator and the global RNG (used inside some encoders)
        torch.manual_seed(params.seed)
        generator = torch.Generator("cpu").manual_seed(params.seed)
        # 3. arguments: the model's mapping of the task's parameters
        kwargs = self.call_kwargs(image, params, width, height, frames)
        kwargs.update(generator=generator, output_type="np", num_inference_steps=params.steps)
        accepted = inspect.signature(self.pipe.__call__).parameters
        if "decode_chunk_size" in accepted:
            kwargs["decode_chunk_size"] = min(self.decode_chunk, frames)
        # 4. generate, reporting each denoising step (and honouring cancel/timeout between steps)
        with torch.inference_mode(), _step_reporter(self.pipe, kwargs, accepted, params.steps, progress):
            output = self._call_pipeline(**kwargs)
        video = np.asarray(output.frames[0])[: params.num_frames]
        parameters: dict[str, Any] = {
            "width": width,
            "height": height,
            "dtype": self.dtype,
            "memory_saving": list(self.memory_modes),
        }
        if frames != params.num_frames:
            parameters["generated_frames"] = frames
        return RunOutput(
            videos=[VideoOutput(frames=_to_uint8(video), fps=params.fps)],
            warnings=warnings,
            parameters=parameters,
        )

    def _call_pipeline(self, **kwargs: Any) -> Any:
        """The one place the pipeline is called (tests inject failures here)."""
        return self.pipe(**kwargs)

    # -- per-model hooks -------------------------------------------------------------------------

    # the pipeline argument that conditions on the frame rate, and whether the model takes a prompt
    fps_argument: ClassVar[str]
    takes_prompt: ClassVar[bool] = True

    def call_kwargs(
        self, image: Image.Image, params: ImageToVideoParams, width: int, height: int, frames: int
    ) -> dict[str, Any]:
        """The pipeline's arguments for these parameters (besides generator, output_type, steps)."""
        kwargs: dict[str, Any] = {
            "image": image,
            "height": height,
            "width": width,
            "num_frames": frames,
            self.fps_argument: params.fps,
        }
        if self.takes_prompt:
            kwargs.update(
                prompt=params.prompt,
                negative_prompt=params.negative_prompt or None,
                guidance_scale=params.guidance_scale,
            )
        return kwargs

    def frames_to_generate(self, num_frames: int) -> int:
        """Frames to ask the model for (at least ``num_frames``; the video keeps ``num_frames``)."""
        return num_frames

    def frame_size(self, image: Image.Image, resolution: str, warnings: list[str]) -> tuple[int, int]:
        short = short_side_px(resolution)
        cap = self.settings.i2v_max_short_side
        if cap is not None and cap < short:
            warnings.append(
                f"resolution {resolution} capped to a {cap}px short side by GENSERVE_I2V_MAX_SHORT_SIDE"
            )
            short = cap
        width, height = output_size(image.width, image.height, short)
        m = self.size_multiple
        return max(m, round(width / m) * m), max(m, round(height / m) * m)

    def model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "model": self.model,
            "model_source": self.source_kind,
            "model_revision": self.revision,
            "pipeline": self.pipeline_class,
            "backend_version": self.version,
        }
        if importlib.util.find_spec("diffusers") is not None:
            from importlib.metadata import version

            info["diffusers_version"] = version("diffusers")
        return info

    def _check_pipeline_kind(self, folder: Path) -> None:
        """A clear error when the folder holds another model's pipeline (before a slow load fails)."""
        try:
            kind = json.loads((folder / INDEX_FILE).read_text()).get("_class_name")
        except (OSError, ValueError):
            return
        accepted = (self.pipeline_class, *self.compatible_pipelines)
        if kind and kind not in accepted:
            raise InvalidInput(
                f"holds a {kind}, but the {self.name} backend loads {' or '.join(accepted)}",
                argument="model",
                value=self.model,
                fix="pick the backend made for that model (see `genserve backends`) or another --model",
            )


def _dtype_for(torch: Any, device: str, cuda_dtype: str | None = None) -> Any:
    """bf16 on CUDA (fp16 without bf16 support, or the dtype a model needs there), fp32 on the CPU."""
    if device.startswith("cuda"):
        if cuda_dtype is not None:
            return getattr(torch, cuda_dtype)
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _free_gpu_gib(torch: Any, device: str) -> float:
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return float(free) / 2**30


def _loaded_modules() -> dict[str, Any]:
    import sys

    return sys.modules


def _to_uint8(video: np.ndarray) -> Iterator[np.ndarray]:
    """Float frames in [0, 1] (F, H, W, 3) -> uint8 RGB frames, one at a time."""
    for frame in video:
        yield np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)


class _step_reporter:
    """Reports each denoising step to ``progress``: via ``callback_on_step_end`` when the pipeline
    takes one, else by wrapping its scheduler's ``step`` (pipelines without a step callback)."""

    def __init__(
        self, pipe: Any, kwargs: dict[str, Any], accepted: Any, total: int, progress: Progress
    ) -> None:
        self.pipe, self.kwargs, self.total, self.progress = pipe, kwargs, total, progress
        self.use_callback = "callback_on_step_end" in accepted
        self.count = 0

    def _report(self) -> None:
        self.count += 1
        self.progress(min(self.count, self.total), self.total, "denoising")

    def __enter__(self) -> None:
        self.progress.check()
        if self.use_callback:

            def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
                self._report()
                return tensors

            self.kwargs["callback_on_step_end"] = on_step_end
            return
        scheduler = self.pipe.scheduler
        original = scheduler.step

        def step(*args: Any, **kw: Any) -> Any:
            out = original(*args, **kw)
            self._report()
            return out

        scheduler.step = step  # an instance attribute shadows the class's method for this call

    def __exit__(self, *exc: object) -> None:
        if not self.use_callback:
            self.pipe.scheduler.__dict__.pop("step", None)
