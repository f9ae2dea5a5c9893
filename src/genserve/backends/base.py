"""The one extension point for models: a Backend class.

A backend is one file: a subclass with ``load(device)`` (heavy, once per process, never in
``__init__`` or at import), ``run(inputs, params, progress)`` and ``unload()``. It imports its
heavy dependencies inside ``load``/``run`` so that listing backends never imports torch.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from genserve.clock import SYSTEM_CLOCK, Clock
from genserve.config import Settings
from genserve.errors import Canceled, JobTimeout


class Progress:
    """Reports progress of a running job.

    At each step it raises :class:`Canceled` when the job was canceled and :class:`JobTimeout`
    past the deadline, so a backend that reports steps is cancelable and bounded for free.
    """

    def __init__(
        self,
        callback: Callable[[int, int, str | None], None] | None = None,
        is_canceled: Callable[[], bool] | None = None,
        deadline: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._callback = callback
        self._is_canceled = is_canceled
        self.deadline = deadline  # a clock.monotonic() value
        self.clock = clock

    def __call__(self, step: int, total: int, message: str | None = None) -> None:
        self.check()
        if self._callback is not None:
            self._callback(step, total, message)

    def log(self, message: str) -> None:
        if self._callback is not None:
            self._callback(-1, -1, message)

    def check(self) -> None:
        if self._is_canceled is not None and self._is_canceled():
            raise Canceled("the job was canceled")
        if self.deadline is not None and self.clock.monotonic() > self.deadline:
            raise JobTimeout(
                "the job ran past its time limit",
                fix="raise GENSERVE_RUN_TIMEOUT_S or ask for less work (fewer frames/steps)",
            )


@dataclass
class VideoOutput:
    """Frames to encode as an MP4 (a generator keeps memory flat), optionally with an audio track."""

    frames: Iterable[np.ndarray]
    fps: float
    audio_path: Path | None = None
    name: str = "video.mp4"


@dataclass
class ImageOutput:
    """An image to save (a PIL image or an RGB array); PNG unless the name says .jpg/.webp."""

    image: Any
    name: str = "image.png"


@dataclass
class FileOutput:
    """A file the backend wrote itself (e.g. by a subprocess); the runner moves it into place."""

    path: Path
    name: str
    media_type: str


@dataclass
class RunOutput:
    videos: list[VideoOutput] = field(default_factory=list)
    images: list[ImageOutput] = field(default_factory=list)
    files: list[FileOutput] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # task result fields (text_blocks, ...)
    warnings: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)  # effective values the backend chose (seed, ...)


@dataclass
class Availability:
    ok: bool
    reason: str = ""
    install: str | None = None
    # not ok as a default, yet runs when asked for by name (e.g. weights given as --model or downloaded)
    explicit_ok: bool = False


class Backend(ABC):
    name: ClassVar[str]
    task: ClassVar[str]
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    requires: ClassVar[tuple[str, ...]] = ()  # importable module names
    extra: ClassVar[str | None] = None  # the pip extra that provides them
    weight_free: ClassVar[bool] = True
    devices: ClassVar[tuple[str, ...]] = ("cpu",)  # device kinds it runs on: "cpu", "cuda"
    default_model: ClassVar[str | None] = None
    # parameters of the task this backend ignores; reported in the result's warnings when set
    unsupported_params: ClassVar[tuple[str, ...]] = ()
    # True when one loaded instance may run several jobs at once
    thread_safe: ClassVar[bool] = False

    def __init__(self, settings: Settings, model: str | None = None) -> None:
        self.settings = settings
        self.model = model or self.default_model
        self.device: str | None = None

    @classmethod
    def availability(cls, settings: Settings) -> Availability:
        for module in cls.requires:
            if importlib.util.find_spec(module.split(".")[0]) is None:
                hint = f"pip install 'genserve[{cls.extra}]'" if cls.extra else f"pip install {module}"
                return Availability(False, f"missing package '{module}'", hint)
        return Availability(True)

    def load(self, device: str) -> None:
        """Load weights onto ``device``. Heavy; runs once per process and backend."""
        self.device = device

    @abstractmethod
    def run(self, inputs: Any, params: Any, progress: Progress) -> RunOutput:
        """Generate. Call ``progress(step, total)`` between steps."""

    def unload(self) -> None:
        """Free the model and its (GPU) memory."""
        self.device = None

    def enable_memory_saving(self) -> bool | str:
        """Switch on a memory-saving mode for the next run: True or the mode's name; False when none is left.

        A backend that names its modes is asked again on each further out-of-memory error, until False.
        """
        return False

    def release_memory(self) -> None:  # noqa: B027 - optional hook
        """Free cached memory after an out-of-memory error."""

    def model_info(self) -> dict[str, Any]:
        """Model id, revision and version for the result's provenance."""
        return {"model": self.model, "backend_version": self.version}
