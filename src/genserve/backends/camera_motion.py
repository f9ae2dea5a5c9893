"""Camera motion presets for the camera backend: eased, sub-pixel camera paths over a still image."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# prompt phrases -> preset, English and Chinese; first match wins, so the specific come first
_PRESET_WORDS: tuple[tuple[str, str], ...] = (
    ("zoom_out", r"zoom(s|ing)?[ -]?out|pull(s|ing)?[ -]?(back|out)|dolly[ -]?out|拉远|缩小|后退"),
    ("zoom_in", r"zoom(s|ing)?[ -]?in|push(es|ing)?[ -]?in|dolly[ -]?in|close[ -]?up|推近|拉近|放大|推进"),
    ("pan_left", r"pan(s|ning)?[ -]?(to the )?left|左移|向左|左摇"),
    ("pan_right", r"pan(s|ning)?[ -]?(to the )?right|右移|向右|右摇"),
    ("tilt_up", r"tilt(s|ing)?[ -]?up|pan(s|ning)?[ -]?up|上摇|向上|仰"),
    ("tilt_down", r"tilt(s|ing)?[ -]?down|pan(s|ning)?[ -]?down|下摇|向下|俯"),
    ("orbit", r"orbit(s|ing)?|circl(es|e|ing)|rotat(es|e|ing)|arc shot|环绕|旋转"),
    ("static", r"static|still|locked[ -]?off|固定|静止"),
    ("ken_burns", r"ken[ -]?burns|drift(ing)?|漂移"),
)
_SLOW = r"slow(ly)?|gentl(e|y)|subtle|缓慢|慢慢|轻微|缓缓"
_FAST = r"fast|quick(ly)?|rapid(ly)?|快速|迅速"


def motion_from_prompt(prompt: str) -> tuple[str, float]:
    """('zoom_in', 0.5) for 'camera zooming in slowly'; ('ken_burns', 1.0) when nothing matches."""
    text = prompt.lower()
    preset = "ken_burns"
    for name, pattern in _PRESET_WORDS:
        if re.search(pattern, text):
            preset = name
            break
    speed = 1.0
    if re.search(_SLOW, text):
        speed = 0.5
    elif re.search(_FAST, text):
        speed = 1.6
    return preset, speed


def ease(t: float) -> float:
    """Cosine ease-in-out: starts and stops without a jerk."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


@dataclass(frozen=True)
class CameraPose:
    zoom: float  # >= 1: how much closer than the full-frame view
    dx: float  # window centre offset, as a fraction of the free margin (-1 .. 1), + = right
    dy: float  # + = down
    angle: float  # degrees, + = counter-clockwise


def pose(preset: str, t: float, speed: float = 1.0) -> CameraPose:
    """The camera pose of ``preset`` at time ``t`` in [0, 1]."""
    e = ease(t)
    a = speed
    travel = min(1.0, 0.6 * a)  # fraction of the margin a pan crosses, each side
    if preset == "zoom_in":
        return CameraPose(1.0 + 0.35 * a * e, 0.0, 0.0, 0.0)
    if preset == "zoom_out":
        return CameraPose(1.0 + 0.35 * a * (1.0 - e), 0.0, 0.0, 0.0)
    if preset in ("pan_left", "pan_right"):
        sign = -1.0 if preset == "pan_left" else 1.0
        return CameraPose(1.2, sign * travel * (2.0 * e - 1.0), 0.0, 0.0)
    if preset in ("tilt_up", "tilt_down"):
        sign = -1.0 if preset == "tilt_up" else 1.0
        return CameraPose(1.2, 0.0, sign * travel * (2.0 * e - 1.0), 0.0)
    if preset == "ken_burns":
        return CameraPose(
            1.05 + 0.2 * a * e, 0.5 * travel * (2.0 * e - 1.0), 0.3 * travel * (2.0 * e - 1.0), 0.0
        )
    if preset == "orbit":
        theta = 2.0 * math.pi * e * min(a, 1.0)
        return CameraPose(
            1.25, 0.5 * math.sin(theta), 0.3 * (1.0 - math.cos(theta)), 2.0 * a * math.sin(theta)
        )
    return CameraPose(1.0, 0.0, 0.0, 0.0)  # static


def max_zoom(preset: str, speed: float) -> float:
    return max(pose(preset, t / 8.0, speed).zoom for t in range(9))
