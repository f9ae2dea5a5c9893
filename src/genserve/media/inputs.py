"""Decoding a task's input files by kind (image, audio, video, text): one decoder per kind, each
refusing what it cannot read with an error that names the input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genserve.config import Settings
from genserve.errors import MediaError, MediaTooLarge
from genserve.media.audio import load_audio
from genserve.media.image import _check_file, open_image

MAX_TEXT_CHARS = 100_000
EXAMPLE_SUFFIX = {"image": ".png", "audio": ".wav", "video": ".mp4", "text": ".txt"}  # for examples in fixes


@dataclass(frozen=True)
class VideoClip:
    """A video input: its file and container facts (frames are read by the backend when needed)."""

    path: Path
    width: int
    height: int
    fps: float
    num_frames: int
    duration: float


def decode_image(path: Path, argument: str, settings: Settings) -> Any:
    return open_image(path, argument=argument, max_pixels=settings.max_image_pixels)


def decode_audio(path: Path, argument: str, settings: Settings) -> Any:
    return load_audio(path, argument=argument, max_seconds=settings.max_audio_seconds)


def decode_video(path: Path, argument: str, settings: Settings) -> VideoClip:
    from genserve.media.video import probe_video

    _check_file(path, argument)
    try:
        info = probe_video(path)
    except MediaError as exc:
        exc.argument = argument
        exc.args = (exc._compose(),)
        raise
    if info.num_frames == 0:
        raise MediaError("has no frames", argument=argument, value=path.name, fix="pass a video with frames")
    if info.width * info.height > settings.max_image_pixels:
        raise MediaTooLarge(
            f"frames are {info.width}x{info.height}, over {settings.max_image_pixels} pixels",
            argument=argument,
            value=path.name,
            fix="scale the video down",
        )
    return VideoClip(path, info.width, info.height, info.fps, info.num_frames, info.duration)


def decode_text(path: Path, argument: str, settings: Settings) -> str:
    _check_file(path, argument)
    if path.stat().st_size > 4 * MAX_TEXT_CHARS:
        raise MediaTooLarge(
            f"is longer than {MAX_TEXT_CHARS} characters",
            argument=argument,
            value=path.name,
            fix="send less text",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MediaError(
            "is not UTF-8 text", argument=argument, value=path.name, fix="save the file as UTF-8"
        ) from None
    if len(text) > MAX_TEXT_CHARS:
        raise MediaTooLarge(
            f"is longer than {MAX_TEXT_CHARS} characters",
            argument=argument,
            value=path.name,
            fix="send less text",
        )
    return text


DECODERS: dict[str, Callable[[Path, str, Settings], Any]] = {
    "image": decode_image,
    "audio": decode_audio,
    "video": decode_video,
    "text": decode_text,
}
