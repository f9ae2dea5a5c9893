"""image-to-video's suggestion after an upload: look at the image and propose a camera motion (or a
resolution) that suits its shape.

It is only a proposal, shown with its reason; a form changes when its user accepts it. The titles
and reasons are English message keys marked with ``N_`` (the web UI's catalogues list them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genserve.errors import GenserveError
from genserve.tasks.base import N_, Suggestion

# NOTE: aspect thresholds. 4:5 and taller reads as a portrait (phone photos, people); 16:10 and
# wider as a landscape (scenery, banners), where a slow pan shows the width a zoom would crop.
PORTRAIT_MAX_ASPECT = 0.8
LANDSCAPE_MIN_ASPECT = 1.6
SMALL_SHORT_SIDE = 384


def suggest(width: int, height: int, face: bool = False) -> Suggestion | None:
    """A suggestion for an image of ``width`` x ``height`` (``face``: a face was found in it), or
    None when none fits."""
    if width <= 0 or height <= 0:
        return None
    aspect = width / height
    if aspect <= PORTRAIT_MAX_ASPECT or (face and aspect < LANDSCAPE_MIN_ASPECT):
        # "slowly" makes the prompt-driven motion gentle (half speed) on the camera backend too
        reason = (
            N_(
                "The image is a portrait ({width}x{height}); a slow push towards the subject keeps it "
                "in frame, where a pan would run out of room."
            )
            if aspect <= PORTRAIT_MAX_ASPECT
            else N_(
                "The image is a portrait (a face, {width}x{height}); a slow push towards the subject "
                "keeps it in frame, where a pan would run out of room."
            )
        )
        return Suggestion(
            N_("gentle zoom-in"),
            reason,
            {"prompt": "the camera zooming in slowly on the subject", "motion": "auto"},
            {"width": width, "height": height},
        )
    if aspect >= LANDSCAPE_MIN_ASPECT:
        return Suggestion(
            N_("slow pan"),
            N_(
                "The image is a wide landscape ({width}x{height}, {aspect}:1); a slow pan shows "
                "its width, where a zoom would crop it."
            ),
            {"prompt": "a slow pan to the right across the scene", "motion": "auto"},
            {"width": width, "height": height, "aspect": f"{aspect:.1f}"},
        )
    if min(width, height) < SMALL_SHORT_SIDE:
        return Suggestion(
            N_("small resolution"),
            N_("The image is small ({width}x{height}); a video larger than the image only adds blur."),
            {"resolution": "256p"},
            {"width": width, "height": height},
        )
    return None


def suggest_for_file(path: str | Path | None) -> Suggestion | None:
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
    return suggest(width, height, face=has_face(upright))


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
