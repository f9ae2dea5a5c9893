from __future__ import annotations

import numpy as np
import pytest

from genserve.backends.camera import render_frames, warp
from genserve.backends.camera_motion import ease, motion_from_prompt, pose


@pytest.mark.parametrize(
    ("prompt", "preset", "speed"),
    [
        ("camera zooming in slowly", "zoom_in", 0.5),
        ("the camera slowly zooms in on her face", "zoom_in", 0.5),
        ("the camera pans right", "pan_right", 1.0),
        ("a quick zoom out over the city", "zoom_out", 1.6),
        ("pan left across the beach", "pan_left", 1.0),
        ("slowly tilt up to the sky", "tilt_up", 0.5),
        ("orbit around the statue", "orbit", 1.0),
        ("镜头缓慢推近", "zoom_in", 0.5),
        ("a cat sitting on a sofa", "ken_burns", 1.0),
    ],
)
def test_motion_is_read_from_the_prompt(prompt: str, preset: str, speed: float) -> None:
    assert motion_from_prompt(prompt) == (preset, speed)


def test_easing_starts_and_ends_at_rest() -> None:
    assert ease(0.0) == 0.0 and ease(1.0) == 1.0
    # velocity near the ends is much smaller than in the middle: no jerk at start or stop
    start, middle = ease(0.05) - ease(0.0), ease(0.525) - ease(0.475)
    assert start < middle / 5


def test_zoom_in_zooms_monotonically_and_pan_moves_one_way() -> None:
    zooms = [pose("zoom_in", t / 10).zoom for t in range(11)]
    assert zooms == sorted(zooms) and zooms[-1] > zooms[0]
    xs = [pose("pan_left", t / 10).dx for t in range(11)]
    assert xs == sorted(xs, reverse=True) and xs[0] > 0 > xs[-1]


def test_warp_at_identity_reproduces_the_image() -> None:
    rng = np.random.default_rng(0)
    src = rng.integers(0, 255, (40, 64, 3), dtype=np.uint8)
    out = warp(src, 64, 40, 32.0, 20.0, 1.0, 0.0)
    assert np.array_equal(out, src)


def test_subpixel_pan_moves_content_smoothly() -> None:
    """A half-pixel shift gives the average of neighbours, not a jump: sub-pixel sampling."""
    src = np.zeros((8, 16, 3), np.uint8)
    src[:, 8:] = 200
    out = warp(src, 16, 8, 8.5, 4.0, 1.0, 0.0)
    assert out[4, 7, 0] == 100


def test_zoom_in_frames_magnify_the_centre() -> None:
    src = np.zeros((200, 200, 3), np.uint8)
    src[90:110, 90:110] = 255  # a 20 px square in the middle
    frames = list(render_frames(src, 200, 200, 5, "zoom_in", 1.0))
    areas = [(f[..., 0] > 127).sum() for f in frames]
    assert areas == sorted(areas)
    assert areas[-1] > 1.6 * areas[0]
