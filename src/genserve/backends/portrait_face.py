"""Where the face is: 68-point landmarks when the ``landmarks`` extra is installed (see
``portrait_landmarks``), else OpenCV's Haar cascades (shipped inside opencv-python-headless 4.x) and
face proportions for the mouth and eyes; and the crop around the face that ``expand_ratio`` widens."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from genserve.backends import portrait_landmarks
from genserve.errors import BackendUnavailable, InvalidInput

DETECT_MAX_SIDE = 800  # detection runs on a copy no larger than this (faster, same result)


@dataclass(frozen=True, eq=False)
class FaceLayout:
    """A face in some pixel coordinate system (x right, y down)."""

    x: float  # face box (the Haar box: brows to just under the mouth, cheek to cheek)
    y: float
    w: float
    h: float
    left_eye: tuple[float, float]  # in the image: the eye on the left side
    right_eye: tuple[float, float]
    mouth: tuple[float, float]  # centre of the lip line
    mouth_half_width: float
    landmarks: np.ndarray | None = field(default=None, repr=False)  # (68, 2) when found with landmarks
    detector: str = "haar"  # "haar" or portrait_landmarks.NAME

    @property
    def eye_width(self) -> float:
        if self.landmarks is not None:
            p = self.landmarks
            return float(np.hypot(*(p[39] - p[36])) + np.hypot(*(p[45] - p[42]))) / 2 * 1.15
        return 0.22 * self.w

    @property
    def eye_height(self) -> float:
        if self.landmarks is not None:  # the open eye's height, widened so the lid covers it
            p = self.landmarks
            opening = (p[[40, 41, 46, 47], 1].mean() - p[[37, 38, 43, 44], 1].mean()) * 1.6
            return float(max(opening, 0.05 * self.h))
        return 0.09 * self.h

    @property
    def chin_y(self) -> float:
        if self.landmarks is not None:
            return float(self.landmarks[8, 1])
        return self.y + 1.1 * self.h

    def mapped(self, sx: float, sy: float, ox: float, oy: float) -> FaceLayout:
        """The layout in a resized, shifted frame: x' = (x - ox) * sx."""

        def pt(p: tuple[float, float]) -> tuple[float, float]:
            return ((p[0] - ox) * sx, (p[1] - oy) * sy)

        return replace(
            self,
            x=(self.x - ox) * sx,
            y=(self.y - oy) * sy,
            w=self.w * sx,
            h=self.h * sy,
            left_eye=pt(self.left_eye),
            right_eye=pt(self.right_eye),
            mouth=pt(self.mouth),
            mouth_half_width=self.mouth_half_width * sx,
            landmarks=None
            if self.landmarks is None
            else ((self.landmarks - np.array([ox, oy], np.float32)) * np.array([sx, sy], np.float32)),
        )

    def mouth_box(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) around the lips and the opening, for measuring mouth motion."""
        mx, my = self.mouth
        half_w, up, down = self.mouth_half_width, 0.1 * self.h, 0.2 * self.h
        return (round(mx - half_w), round(my - up), round(2 * half_w), round(up + down))


@lru_cache(maxsize=2)
def _cascade(name: str) -> Any:
    path = f"{cv2.data.haarcascades}{name}"  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise BackendUnavailable(
            f"OpenCV's Haar cascade {name} is missing",
            fix="pip install 'opencv-python-headless>=4.8,<5' (5.x no longer ships the cascades)",
        )
    return cascade


def detect_face(rgb: np.ndarray, use_landmarks: bool = True) -> FaceLayout:
    """The largest frontal face in an RGB image; InvalidInput when there is none.

    With the ``landmarks`` extra installed (and ``use_landmarks``), dlib's 68 points; when it is
    not installed or finds no face, the Haar cascades (``detector`` says which one ran).
    """
    if use_landmarks and portrait_landmarks.available():
        points = portrait_landmarks.find_landmarks(rgb)
        if points is not None and plausible(points):
            return layout_from_landmarks(points)
    return _detect_haar(rgb)


def plausible(p: np.ndarray) -> bool:
    """False for landmarks a frontal face cannot have (the predictor's fit on a profile or a non-face):
    the lips under the nose tip, the chin under the lips, a mouth at least half as wide as the eyes
    are apart, the nose tip in the middle 40 % of the jaw's width (a head turned less than ~35°)."""
    eyes = float(np.hypot(*(p[42:48].mean(axis=0) - p[36:42].mean(axis=0))))
    nose_to_chin = float(p[8, 1] - p[30, 1])
    jaw_w = float(p[16, 0] - p[0, 0])
    return bool(
        eyes > 0
        and jaw_w > 0
        and 0.3 < (p[30, 0] - p[0, 0]) / jaw_w < 0.7
        and nose_to_chin > 0.5 * eyes
        and p[[50, 51, 52], 1].mean() > p[30, 1] + 0.1 * nose_to_chin
        and p[8, 1] > p[[56, 57, 58], 1].mean() + 0.1 * nose_to_chin
        and float(np.hypot(*(p[54] - p[48]))) > 0.5 * eyes
    )


def layout_from_landmarks(p: np.ndarray) -> FaceLayout:
    """A FaceLayout whose box matches the Haar box's extent (brows to under the mouth, cheek to cheek)."""
    x0, x1 = float(p[0:17, 0].min()), float(p[0:17, 0].max())
    top = float(p[17:27, 1].min())
    h = (float(p[8, 1]) - top) / 1.1  # the Haar box's chin sits at 1.1 of its height
    (lx, ly), (rx, ry) = p[36:42].mean(axis=0), p[42:48].mean(axis=0)
    mouth = (float(p[[62, 66], 0].mean()), float(p[[62, 66], 1].mean()))
    half = float(np.hypot(*(p[54] - p[48]))) / 2 * 1.15
    return FaceLayout(
        x0,
        top,
        x1 - x0,
        h,
        (float(lx), float(ly)),
        (float(rx), float(ry)),
        mouth,
        half,
        landmarks=p.astype(np.float32),
        detector=portrait_landmarks.NAME,
    )


def _detect_haar(rgb: np.ndarray) -> FaceLayout:
    # 1. largest face on a downscaled, contrast-equalised grey copy
    h, w = rgb.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    small = cv2.equalizeHist(small)
    min_side = max(24, min(small.shape[:2]) // 12)
    faces = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    if len(faces) == 0:
        raise InvalidInput(
            "no face found: use a frontal portrait with the whole face visible, eyes open, "
            "at least 1/12 of the image's short side",
            argument="image",
            fix="pass a head-and-shoulders photo facing the camera",
        )
    fx, fy, fw, fh = (float(v) / scale for v in max(faces, key=lambda f: f[2] * f[3]))
    # 2. eyes: the eye cascade in the upper face when it finds one per side, else face proportions
    left, right = (fx + 0.3 * fw, fy + 0.38 * fh), (fx + 0.7 * fw, fy + 0.38 * fh)
    top = grey[round(fy) : round(fy + 0.55 * fh), round(fx) : round(fx + fw)]
    eyes = _cascade("haarcascade_eye.xml").detectMultiScale(
        top, scaleFactor=1.1, minNeighbors=5, minSize=(max(8, round(fw / 10)),) * 2
    )
    centres = [(fx + ex + ew / 2, fy + ey + eh / 2) for ex, ey, ew, eh in eyes]
    lefts = [c for c in centres if c[0] < fx + 0.5 * fw]
    rights = [c for c in centres if c[0] >= fx + 0.5 * fw]
    if lefts and rights:
        left = min(lefts, key=lambda c: abs(c[0] - left[0]))
        right = min(rights, key=lambda c: abs(c[0] - right[0]))
    # 3. the lip line: the darkest row where face proportions put the mouth
    mx = (left[0] + right[0]) / 2
    my = _lip_line(grey, mx, fy + 0.85 * fh, fw, fh)
    return FaceLayout(fx, fy, fw, fh, left, right, (mx, my), 0.2 * fw)


def _lip_line(grey: np.ndarray, mx: float, guess_y: float, fw: float, fh: float) -> float:
    """The darkest row (the gap between closed lips) within a band around the guess."""
    x0, x1 = round(mx - 0.12 * fw), round(mx + 0.12 * fw)
    y0, y1 = round(guess_y - 0.07 * fh), round(guess_y + 0.07 * fh)
    y0, y1 = max(0, y0), min(grey.shape[0], y1)
    x0, x1 = max(0, x0), min(grey.shape[1], x1)
    if y1 - y0 < 5 or x1 - x0 < 3:
        return guess_y
    rows = grey[y0:y1, x0:x1].astype(np.float32).mean(axis=1)
    rows = np.convolve(rows, np.ones(3) / 3, mode="same")
    # prefer rows near the guess: a dark beard or shadow further away should not win
    dist = np.abs(np.arange(y0, y1) - guess_y) / (0.07 * fh)
    return float(y0 + int(np.argmin(rows + 12.0 * dist**2)))


def crop_box(face: FaceLayout, width: int, height: int, expand_ratio: float) -> tuple[int, int, int, int]:
    """A square (x0, y0, x1, y1) around the head, widened by ``expand_ratio`` of its size on each side.

    The Haar box stops under the mouth; the head box adds the chin and the forehead first, so
    expand_ratio=0 still keeps the whole face.
    """
    head = 1.35 * max(face.w, face.h)
    cx, cy = face.x + face.w / 2, face.y + 0.58 * face.h
    side = min(head * (1.0 + 2.0 * expand_ratio), width, height)
    x0 = min(max(cx - side / 2, 0.0), width - side)
    y0 = min(max(cy - side / 2, 0.0), height - side)
    s = int(side)
    return int(x0), int(y0), int(x0) + s, int(y0) + s


def output_size(crop_w: int, crop_h: int, min_resolution: int, image_short_side: int) -> tuple[int, int]:
    """Even (width, height): short side ``min_resolution``, capped at the portrait's own short side."""
    short = min(min_resolution, image_short_side)
    scale = short / min(crop_w, crop_h)
    return max(2, round(crop_w * scale / 2) * 2), max(2, round(crop_h * scale / 2) * 2)
