"""Planted regressions for the gate tests: the same backend names, a broken "new model version".

``use_backend(cls)`` swaps a registered backend for a subclass while a test runs, so the committed
suite runs unchanged against the regressed model.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from genserve.backends import registry
from genserve.backends.base import Backend, RunOutput, VideoOutput
from genserve.backends.camera import CameraBackend
from genserve.media.audio import load_audio, write_wav


def _weightfree_classes() -> dict[str, type[Backend]]:
    return registry.backend_classes()


class FrozenSecondHalfCamera(CameraBackend):
    """camera, but the second half of every video repeats the middle frame."""

    def run(self, inputs: Any, params: Any, progress: Any) -> RunOutput:
        out = super().run(inputs, params, progress)
        video = out.videos[0]
        frames = list(video.frames)
        half = len(frames) // 2
        frozen = frames[:half] + [frames[half]] * (len(frames) - half)
        out.videos[0] = VideoOutput(
            frames=frozen, fps=video.fps, audio_path=video.audio_path, name=video.name
        )
        return out


def late_audio(base: type[Backend], frames: int = 5) -> type[Backend]:
    """A talking-head backend whose audio track starts ``frames`` video frames late."""

    class LateAudio(base):  # type: ignore[valid-type,misc]
        def run(self, inputs: Any, params: Any, progress: Any) -> RunOutput:
            out = super().run(inputs, params, progress)
            video = out.videos[0]
            assert video.audio_path is not None
            clip = load_audio(video.audio_path)
            pad = np.zeros(round(frames / video.fps * clip.sample_rate), dtype=np.float32)
            path = Path(tempfile.mkdtemp(prefix="late-audio-")) / "late.wav"
            write_wav(path, np.concatenate([pad, clip.samples]), clip.sample_rate)
            out.videos[0] = VideoOutput(frames=video.frames, fps=video.fps, audio_path=path, name=video.name)
            return out

    LateAudio.__name__ = f"LateAudio{base.__name__}"
    return LateAudio


@contextlib.contextmanager
def use_backend(cls: type[Backend]) -> Iterator[None]:
    classes = registry.backend_classes()
    old = classes.get(cls.name)
    classes[cls.name] = cls
    try:
        yield
    finally:
        if old is not None:
            classes[cls.name] = old
        else:
            classes.pop(cls.name, None)
