"""A suggestion after an upload: look at the image and propose parameters that suit it.

It is only a proposal, shown with its reason; the form changes when the user accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genserve.errors import GenserveError

# NOTE: aspect thresholds. 4:5 and taller reads as a portrait (phone photos, people); 16:10 and
# wider as a landscape (scenery, banners), where a slow pan shows the width a zoom would crop.
PORTRAIT_MAX_ASPECT = 0.8
LANDSCAPE_MIN_ASPECT = 1.6
SMALL_SHORT_SIDE = 384


@dataclass(frozen=True)
class Suggestion:
    title: str
    reason: str
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        changes = ", ".join(f"{k} = {v!r}" for k, v in self.params.items())
        return f"**Suggestion: {self.title}.** {self.reason} Accepting sets {changes}."


def suggest(task: str, width: int, height: int, face: bool = False) -> Suggestion | None:
    """A suggestion for an image of ``width`` x ``height`` in ``task`` (``face``: a face was found
    in it), or None when none fits."""
    if task != "image-to-video" or width <= 0 or height <= 0:
        return None
    aspect = width / height
    if aspect <= PORTRAIT_MAX_ASPECT or (face and aspect < LANDSCAPE_MIN_ASPECT):
        # "slowly" makes the prompt-driven motion gentle (half speed) on the camera backend too
        shape = "a portrait" if aspect <= PORTRAIT_MAX_ASPECT else "a portrait (a face)"
        return Suggestion(
            "gentle zoom-in",
            f"The image is {shape} ({width}x{height}); a slow push towards the subject keeps it "
            "in frame, where a pan would run out of room.",
            {"prompt": "the camera zooming in slowly on the subject", "motion": "auto"},
        )
    if aspect >= LANDSCAPE_MIN_ASPECT:
        return Suggestion(
            "slow pan",
            f"The image is a wide landscape ({width}x{height}, {aspect:.1f}:1); a slow pan shows "
            "its width, where a zoom would crop it.",
            {"prompt": "a slow pan to the right across the scene", "motion": "auto"},
        )
    if min(width, height) < SMALL_SHORT_SIDE:
        return Suggestion(
            "small resolution",
            f"The image is small ({width}x{height}); a video larger than the image only adds blur.",
            {"resolution": "256p"},
        )
    return None


def suggest_for_file(task: str, path: str | Path | None) -> Suggestion | None:
    """:func:`suggest` for an uploaded file (None when there is no file or it is not an image)."""
    if not path:
        return None
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, UnidentifiedImageError):
        return None
    width, height = upright.size
    return suggest(task, width, height, face=task == "image-to-video" and has_face(upright))


def has_face(image: Any) -> bool:
    """Whether a frontal face is in ``image`` (a PIL image); False without OpenCV. A square or
    slightly wide photo of a person is a portrait too (the bundled sample is 512x512)."""
    try:
        import numpy as np

        from genserve.backends.portrait_face import detect_face
    except ImportError:
        return False
    try:
        detect_face(np.asarray(image))
    except GenserveError:
        return False
    return True
