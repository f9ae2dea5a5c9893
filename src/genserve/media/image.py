"""Safe image decoding: type sniffed from content, pixel limit before decode, EXIF orientation, RGB."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from genserve.errors import MediaError, MediaTooLarge, NotFound

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")


def _check_file(path: Path, argument: str) -> None:
    if not path.exists():
        raise NotFound("file does not exist", argument=argument, value=str(path), fix="check the path")
    if not path.is_file():
        raise MediaError(
            "must be a file", argument=argument, value=str(path), fix="pass a file, not a folder"
        )
    if path.stat().st_size == 0:
        raise MediaError("file is empty", argument=argument, value=path.name, fix="pass a non-empty image")


def open_image(path: str | Path, *, argument: str = "image", max_pixels: int = 40_000_000) -> Image.Image:
    """Decode an image file into RGB, refusing anything that is not a supported image.

    The format is sniffed from the bytes (never the file name); the pixel count is checked from
    the header before any pixel is decoded, so a decompression bomb costs nothing.
    """
    path = Path(path)
    _check_file(path, argument)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path, formats=list(ACCEPTED_FORMATS))
    except UnidentifiedImageError:
        head = path.read_bytes()[:12]
        raise MediaError(
            f"not a recognised image ({', '.join(ACCEPTED_FORMATS)}); the file starts with {head!r}",
            argument=argument,
            value=path.name,
            fix="pass a PNG or JPEG image",
        ) from None
    except Image.DecompressionBombError as exc:
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        raise MediaTooLarge(
            f"image has {claimed.group(1) if claimed else 'too many'} pixels, over the limit of {max_pixels}",
            argument=argument,
            value=path.name,
            fix="downscale the image",
        ) from None
    width, height = img.size
    if width * height > max_pixels:
        img.close()
        raise MediaTooLarge(
            f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}",
            argument=argument,
            value=path.name,
            fix="downscale the image (or raise GENSERVE_MAX_IMAGE_PIXELS)",
        )
    if width < 8 or height < 8:
        raise MediaError(
            f"image is {width}x{height}, smaller than the minimum 8x8",
            argument=argument,
            value=path.name,
            fix="pass a larger image",
        )
    try:
        img.load()
        ImageOps.exif_transpose(img, in_place=True)  # no copy when there is nothing to turn
        return to_rgb(img)
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(
            f"image data is corrupt or truncated ({exc})",
            argument=argument,
            value=path.name,
            fix="re-export the image",
        ) from None


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB, with transparency composited over white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def save_image(image: Image.Image | Any, path: Path) -> Path:
    """Write a PIL image or an RGB array (its format from the name: PNG, JPEG or WebP)."""
    if not isinstance(image, Image.Image):
        import numpy as np

        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    image.save(path)
    return path
