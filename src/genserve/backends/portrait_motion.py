"""Time series that make a still portrait alive: natural blinks and subtle head motion (seeded)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genserve.backends.mouth_curve import smooth

# NOTE: people blink about 15-20 times a minute while talking, each blink lasting 100-300 ms.
BLINK_INTERVAL_S = (2.0, 5.5)
BLINK_LENGTH_S = 0.2
# Head motion at motion_scale=1, as fractions of the face box (translation) and degrees (roll).
SWAY_TRANSLATE = 0.012
SWAY_ROLL_DEG = 1.2
NOD_PER_OPENING = 0.012  # speech makes the head dip slightly with loud syllables
JITTER = 0.25  # frame-to-frame micro-motion that smooth_motion filters out (relative to the sway)


def blink_curve(n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Eyelid closure per frame (0 open .. 1 shut): blinks at natural, irregular intervals."""
    closure = np.zeros(n_frames, np.float32)
    length = max(3, round(BLINK_LENGTH_S * fps))
    shape = np.sin(np.linspace(0.0, np.pi, length + 2)[1:-1]).astype(np.float32) ** 0.7
    t = rng.uniform(0.6, BLINK_INTERVAL_S[0])  # first blink soon, but not at once
    while True:
        start = round(t * fps)
        if start + length > n_frames:
            break
        closure[start : start + length] = np.maximum(closure[start : start + length], shape)
        t += rng.uniform(*BLINK_INTERVAL_S)
    return closure


@dataclass
class HeadPath:
    tx: np.ndarray  # pixels, + right
    ty: np.ndarray  # pixels, + down
    roll: np.ndarray  # radians, + clockwise on screen


def head_path(
    n_frames: int,
    fps: float,
    rng: np.random.Generator,
    face_size: float,
    motion_scale: float,
    opening: np.ndarray,
    smooth_motion: bool,
) -> HeadPath:
    """Slow sway (a few incommensurate sines), a nod with loud syllables, micro-jitter."""
    t = np.arange(n_frames, dtype=np.float64) / fps

    def sway() -> np.ndarray:
        out = np.zeros(n_frames)
        for _ in range(3):
            freq = rng.uniform(0.08, 0.45)
            out += rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
        return out / 2.0

    tx, ty, roll = sway(), sway(), sway()
    nod = smooth(opening, 3.0).astype(np.float64) * NOD_PER_OPENING / SWAY_TRANSLATE
    jitter = rng.normal(0.0, JITTER, size=(3, n_frames))
    tx, ty, roll = tx + jitter[0], ty + nod + jitter[1], roll + jitter[2]
    if smooth_motion:
        tx, ty, roll = (smooth(v, 2.5).astype(np.float64) for v in (tx, ty, roll))
    k = motion_scale
    return HeadPath(
        tx=(tx * SWAY_TRANSLATE * face_size * k).astype(np.float32),
        ty=(ty * SWAY_TRANSLATE * face_size * k).astype(np.float32),
        roll=(roll * np.radians(SWAY_ROLL_DEG) * k).astype(np.float32),
    )
