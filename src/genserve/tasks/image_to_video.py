"""image-to-video: one image (and a prompt) becomes a short MP4."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from genserve.tasks.base import DegradeStep, Inputs, MediaInput, TaskSpec
from genserve.tasks.image_to_video_suggest import suggest_for_file

Resolution = Literal["256p", "384p", "512p", "768p", "1024p"]
RESOLUTIONS: tuple[str, ...] = get_args(Resolution)
Motion = Literal[
    "auto",
    "static",
    "zoom_in",
    "zoom_out",
    "pan_left",
    "pan_right",
    "tilt_up",
    "tilt_down",
    "ken_burns",
    "orbit",
]
MOTIONS: tuple[str, ...] = get_args(Motion)


class ImageToVideoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prompt: str = Field(
        "",
        title="Prompt",
        max_length=2000,
        description="What should happen in the video, e.g. 'camera zooming in slowly'.",
    )
    negative_prompt: str = Field(
        "",
        title="Negative prompt",
        max_length=2000,
        description="What the video should avoid, e.g. 'blurry, distorted, low quality'.",
    )
    resolution: Resolution = Field(
        "512p",
        title="Resolution",
        description="Short side of the video in pixels; the aspect ratio of the image is kept.",
    )
    num_frames: int = Field(
        16, title="Frames", ge=1, le=256, description="Number of frames. More frames = a longer clip."
    )
    fps: int = Field(
        8, title="FPS", ge=1, le=60, description="Frames per second of the MP4 (16 frames at 8 fps = 2 s)."
    )
    steps: int = Field(
        50,
        title="Steps",
        ge=1,
        le=500,
        description="Denoising steps. More = finer detail and slower; below 20 looks rough.",
    )
    guidance_scale: float = Field(
        9.0,
        title="Guidance",
        ge=0.0,
        le=50.0,
        description="How strongly the prompt steers the video (7-12 is typical).",
    )
    seed: int | None = Field(
        None,
        title="Seed",
        ge=0,
        le=2**32 - 1,
        description="Random seed; the same seed gives the same video. Empty = random.",
    )
    motion: Motion = Field(
        "auto",
        title="Camera motion",
        description="Camera motion preset (zoom_in, pan_left, orbit, ...); 'auto' reads it from the prompt.",
    )


@dataclass
class ImageToVideoInputs(Inputs):
    image: Image.Image | None = None


def short_side_px(resolution: str) -> int:
    return int(resolution.rstrip("p"))


def output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the given short side, the input's aspect kept, both multiples of 8."""
    if width <= height:
        out_w = short_side
        out_h = max(8, round(height * short_side / width / 8) * 8)
    else:
        out_h = short_side
        out_w = max(8, round(width * short_side / height / 8) * 8)
    return out_w, out_h


def _lower_resolution(params: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    idx = RESOLUTIONS.index(params["resolution"])
    if idx == 0:
        return None
    new = RESOLUTIONS[idx - 1]
    return {**params, "resolution": new}, f"resolution {params['resolution']} -> {new}"


def _fewer_frames(params: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    frames = params["num_frames"]
    if frames <= 8:
        return None
    new = max(8, frames // 2)
    return {**params, "num_frames": new}, f"num_frames {frames} -> {new}"


SPEC = TaskSpec(
    name="image-to-video",
    title="Image to video",
    description="Animate one image into a short MP4, steered by a prompt.",
    params_model=ImageToVideoParams,
    inputs_type=ImageToVideoInputs,
    inputs=(MediaInput("image", "image", description="The first frame / subject of the video"),),
    default_backends=("i2vgen-xl", "camera"),
    output="video",
    # changes against the defaults (512p, 16 frames at 8 fps, 50 steps, guidance 9)
    presets={
        "Fast": {"resolution": "256p", "num_frames": 8, "steps": 20},
        "Standard": {},
        "High quality": {"resolution": "768p", "num_frames": 24, "fps": 12, "steps": 75},
    },
    suggest=suggest_for_file,  # a camera motion that suits the image's shape
    degrade_ladder=(
        DegradeStep("lower_resolution", _lower_resolution),
        DegradeStep("lower_resolution", _lower_resolution),
        DegradeStep("fewer_frames", _fewer_frames),
        DegradeStep("memory_saving", lambda p: None, memory_saving=True),
    ),
)
