"""camera: weight-free image-to-video by smooth, deterministic camera motion over the input image.

The default image-to-video backend on a machine with no model weights: zoom, pan, tilt, Ken Burns
and orbit with easing and sub-pixel (bilinear) sampling, so there is no frame-to-frame jitter.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from genserve.backends.base import Backend, Progress, RunOutput, VideoOutput
from genserve.backends.camera_motion import max_zoom, motion_from_prompt, pose
from genserve.tasks.image_to_video import ImageToVideoInputs, ImageToVideoParams, output_size, short_side_px


class CameraBackend(Backend):
    name = "camera"
    task = "image-to-video"
    description = (
        "Weight-free camera motion (zoom, pan, tilt, Ken Burns, orbit) over the image; runs anywhere."
    )
    version = "1.0"
    weight_free = True
    devices = ("cpu",)
    default_model = "camera-motion"
    unsupported_params = ("negative_prompt", "steps", "guidance_scale", "seed")
    thread_safe = True

    def run(self, inputs: ImageToVideoInputs, params: ImageToVideoParams, progress: Progress) -> RunOutput:
        # 1. decide the motion
        assert inputs.image is not None
        preset: str = params.motion
        speed = 1.0
        if params.motion == "auto":
            preset, speed = motion_from_prompt(params.prompt)
        # 2. geometry: output size from the short side, aspect of the input kept
        src = np.asarray(inputs.image)
        out_w, out_h = output_size(src.shape[1], src.shape[0], short_side_px(params.resolution))
        frames = render_frames(src, out_w, out_h, params.num_frames, preset, speed, progress)
        return RunOutput(
            videos=[VideoOutput(frames=frames, fps=params.fps)],
            parameters={"motion_preset": preset, "motion_speed": speed, "width": out_w, "height": out_h},
        )


def render_frames(
    src: np.ndarray,
    out_w: int,
    out_h: int,
    num_frames: int,
    preset: str,
    speed: float,
    progress: Progress | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``num_frames`` RGB frames of size (out_h, out_w) following the camera path."""
    src_h, src_w = src.shape[:2]
    # the largest window of the output's aspect inside the source (the view at zoom 1)
    aspect = out_w / out_h
    base_w, base_h = (src_w, src_w / aspect) if src_w / src_h <= aspect else (src_h * aspect, src_h)
    # prescale a large source once so sampling never skips pixels (no aliasing, and faster)
    scale = base_w / max_zoom(preset, speed) / out_w
    if scale > 1.25:
        factor = 1.0 / scale
        src = cv2.resize(src, (round(src_w * factor), round(src_h * factor)), interpolation=cv2.INTER_AREA)
        base_w, base_h = base_w * src.shape[1] / src_w, base_h * src.shape[0] / src_h
        src_h, src_w = src.shape[:2]
    for i in range(num_frames):
        t = i / (num_frames - 1) if num_frames > 1 else 0.0
        p = pose(preset, t, speed)
        win_w, win_h = base_w / p.zoom, base_h / p.zoom
        cx = src_w / 2.0 + p.dx * (src_w - win_w) / 2.0
        cy = src_h / 2.0 + p.dy * (src_h - win_h) / 2.0
        yield warp(src, out_w, out_h, cx, cy, win_w / out_w, p.angle)
        if progress is not None:
            progress(i + 1, num_frames)


def warp(
    src: np.ndarray, out_w: int, out_h: int, cx: float, cy: float, s: float, angle_deg: float
) -> np.ndarray:
    """Sample the source around (cx, cy) at ``s`` source pixels per output pixel, rotated by the angle.

    ``cx``/``cy`` are continuous coordinates (pixel edges at integers); OpenCV samples at pixel
    centres, hence the half-pixel shifts.
    """
    a = math.radians(angle_deg)
    cos_a, sin_a = math.cos(a) * s, math.sin(a) * s
    u0, v0 = (out_w - 1) / 2.0, (out_h - 1) / 2.0
    # dst (u, v) -> src (x, y)
    m: Any = np.array(
        [
            [cos_a, -sin_a, cx - 0.5 - cos_a * u0 + sin_a * v0],
            [sin_a, cos_a, cy - 0.5 - sin_a * u0 - cos_a * v0],
        ],
        dtype=np.float64,
    )
    return cv2.warpAffine(
        src,
        m,
        (out_w, out_h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT101,
    )
