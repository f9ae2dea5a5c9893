"""What a metric measures: one generated asset (its video or result), its inputs and expectations.

Decoded media are cached on the context so that ten metrics decode a video once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from genserve.config import Settings
from genserve.gates.registry import MetricSkipped

if TYPE_CHECKING:
    from genserve.media.audio import AudioClip
    from genserve.media.video import VideoInfo

T = TypeVar("T")


@dataclass
class MeasureContext:
    task: str
    settings: Settings
    video: Path | None = None  # the generated video, when the task makes one
    inputs: dict[str, Path] = field(default_factory=dict)  # input name -> file
    expected: dict[str, Any] = field(default_factory=dict)  # expected text, labels, ...
    result: dict[str, Any] = field(default_factory=dict)  # the job's result JSON
    details: dict[str, dict[str, Any]] = field(default_factory=dict)  # metric -> extra facts
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def note(self, metric: str, **facts: Any) -> None:
        """Record extra facts about a measurement (shown in reports beside the value)."""
        self.details.setdefault(metric, {}).update(facts)

    def memo(self, key: str, make: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def need_video(self) -> Path:
        if self.video is None:
            raise MetricSkipped("the job produced no video")
        return self.video

    def info(self) -> VideoInfo:
        from genserve.media.video import probe_video

        return self.memo("info", lambda: probe_video(self.need_video()))

    def frames(self) -> np.ndarray:
        """RGB frames (T, H, W, 3) uint8."""
        from genserve.media.video import read_frames

        return self.memo("frames", lambda: read_frames(self.need_video()))

    def gray(self) -> np.ndarray:
        """Luma frames (T, H, W) float32 in 0..255 (BT.601)."""

        def make() -> np.ndarray:
            f = self.frames().astype(np.float32)
            return f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114

        return self.memo("gray", make)

    def video_audio(self) -> AudioClip:
        """The video's own audio track (mono 16 kHz)."""
        from genserve.media.audio import load_audio

        def make() -> AudioClip:
            if not self.info().has_audio:
                raise MetricSkipped("the video has no audio track")
            return load_audio(self.need_video(), argument="video", max_seconds=3600)

        return self.memo("video_audio", make)

    def input_audio(self) -> AudioClip:
        from genserve.media.audio import load_audio

        path = self.inputs.get("audio")
        if path is None:
            raise MetricSkipped("the case has no input audio")
        return self.memo("input_audio", lambda: load_audio(path, max_seconds=3600))

    def input_image(self) -> np.ndarray:
        """The input image as RGB uint8 (EXIF-rotated, as the job saw it)."""
        from genserve.media.image import open_image

        path = self.inputs.get("image")
        if path is None:
            raise MetricSkipped("the case has no input image")
        return self.memo("input_image", lambda: np.asarray(open_image(path, argument="image")))

    def params(self) -> dict[str, Any]:
        return dict(self.result.get("parameters") or {})
