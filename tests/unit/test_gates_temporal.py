"""Temporal metrics catch the defects planted in real encoded videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from gate_media import FACE, context, encode, pan, textured
from PIL import Image

from genserve.gates.measure import measure_asset
from genserve.gates.temporal import ssim


def _measure(tmp: Path, frames: list[np.ndarray], name: str, **kw: Path) -> dict:
    video = encode(frames, tmp / f"{name}.mp4", fps=8)
    return measure_asset(context(tmp, video, **kw))


def test_frozen_tail_is_caught(tmp_path: Path) -> None:
    moving = pan(textured(), 16, 2.0)
    clean = _measure(tmp_path, moving, "clean")
    frozen = _measure(tmp_path, moving[:8] + [moving[8]] * 8, "frozen")
    assert clean["frozen_fraction"].value == 0.0
    assert frozen["frozen_fraction"].value == pytest.approx(8 / 16, abs=1 / 16)
    assert frozen["frozen_fraction"].detail["from_frame"] == 8


def test_black_tail_is_caught(tmp_path: Path) -> None:
    frames = pan(textured(), 16, 2.0)
    black = frames[:12] + [np.zeros_like(frames[0])] * 4
    m = _measure(tmp_path, black, "black")
    assert m["black_fraction"].value == pytest.approx(4 / 16)
    assert m["black_fraction"].detail["first"] == 12
    assert _measure(tmp_path, frames, "ok")["black_fraction"].value == 0.0


def test_flicker_is_caught(tmp_path: Path) -> None:
    frames = pan(textured(), 16, 1.0)
    flicker = [
        np.clip(f.astype(int) + (40 if i % 2 else -40), 0, 255).astype(np.uint8) for i, f in enumerate(frames)
    ]
    clean = _measure(tmp_path, frames, "steady")["flicker"].value
    bad = _measure(tmp_path, flicker, "flicker")["flicker"].value
    # NOTE: VBench's score is (255 - mean MAE) / 255: a ±40 alternation costs about 80/255
    assert clean > 0.95
    assert bad < clean - 0.2


def test_blurred_frames_are_caught(tmp_path: Path) -> None:
    frames = pan(textured(), 12, 1.0)
    blurred = [cv2.GaussianBlur(f, (0, 0), 3) for f in frames]
    sharp = _measure(tmp_path, frames, "sharp")["sharpness"].value
    soft = _measure(tmp_path, blurred, "soft")["sharpness"].value
    assert soft < 0.3 * sharp


def test_dynamic_degree_tells_motion_from_stillness(tmp_path: Path) -> None:
    img = textured(256, 256)
    moving = _measure(tmp_path, pan(img, 16, 12.0), "moving")
    still = _measure(tmp_path, [img] * 16, "still")
    assert moving["dynamic_degree"].value == 1.0
    assert moving["dynamic_degree"].detail["threshold_px"] == pytest.approx(6.0)
    assert still["dynamic_degree"].value == 0.0
    assert moving["motion"].value > 8.0 > 0.5 > still["motion"].value


def test_first_frame_fidelity_against_the_input_image(tmp_path: Path) -> None:
    img = textured(128, 160)
    src = tmp_path / "input.png"
    Image.fromarray(img).save(src)
    other = tmp_path / "other.png"
    Image.open(FACE).resize((160, 128)).save(other)
    video = encode(pan(img, 8, 1.0), tmp_path / "v.mp4", fps=8)
    same = measure_asset(context(tmp_path, video, image=src))
    wrong = measure_asset(context(tmp_path, video, image=other))
    assert same["first_frame_ssim"].value > 0.9
    assert same["first_frame_psnr"].value > 30
    assert wrong["first_frame_ssim"].value < 0.3
    assert wrong["first_frame_psnr"].value < same["first_frame_psnr"].value - 10


def test_ssim_of_identical_images_is_one() -> None:
    img = textured()[..., 0].astype(np.float64)
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, 255 - img) < 0.5
