"""What every task shares: the result envelope and the task description the runner reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"

    def is_terminal(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.canceled)


class OutputFile(BaseModel):
    name: str = Field(description="Artifact name, unique within the job (e.g. video.mp4)")
    path: str = Field(description="Where the file lies (a local path, or a URL when served)")
    media_type: str
    bytes: int
    sha256: str


class Timings(BaseModel):
    queue: float | None = Field(None, description="Seconds spent waiting in a queue")
    load: float = Field(0.0, description="Seconds spent loading the model (0 when warm)")
    run: float = Field(0.0, description="Seconds the backend spent generating")
    encode: float = Field(0.0, description="Seconds spent encoding outputs")


class PeakMemory(BaseModel):
    cpu_rss_mb: float | None = None
    gpu_mb: float | None = None


class JobResult(BaseModel):
    """One result envelope for every task and every door."""

    model_config = ConfigDict(extra="allow")

    job_id: str
    status: JobStatus
    task: str
    backend: str | None = None
    model: str | None = None
    outputs: list[OutputFile] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict, description="Effective parameters")
    degraded: list[str] = Field(default_factory=list, description="Degradation steps taken after OOM")
    warnings: list[str] = Field(default_factory=list)
    message: str | None = Field(None, description="On failure: a human sentence")
    error: str | None = Field(None, description="On failure: the error code")
    timestamp: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    duration_sec: float = 0.0
    timings: Timings = Field(default_factory=Timings)
    peak_memory: PeakMemory = Field(default_factory=PeakMemory)
    device: str | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)

    def output(self, name: str) -> OutputFile | None:
        return next((o for o in self.outputs if o.name == name), None)


MediaKind = Literal["image", "audio", "video", "text"]
OutputKind = Literal["video", "image", "audio", "json"]
MEDIA_KINDS: tuple[str, ...] = ("image", "audio", "video", "text")
OUTPUT_KINDS: tuple[str, ...] = ("video", "image", "audio", "json")
RESERVED_TASK_NAMES = ("jobs", "backends")  # /v1/<name> routes of their own


@dataclass(frozen=True)
class MediaInput:
    """A file input a task takes: its name (the form field, the CLI option ``--<name>``), its kind
    (how it is decoded: a PIL image, an AudioClip, a VideoClip, a str), whether it is required and
    whether it takes several files (a batch). The decoded value is set on the task's Inputs as the
    attribute ``field`` (default: the name), and is always in ``Inputs.media[name]``."""

    name: str
    kind: MediaKind
    required: bool = True
    description: str = ""
    multiple: bool = False  # a batch: several files under one name (decoded as a list)
    field: str | None = None  # the Inputs attribute it is decoded into (default: ``name``)

    def __post_init__(self) -> None:
        if self.kind not in MEDIA_KINDS:
            raise ValueError(f"input {self.name!r}: kind must be one of {MEDIA_KINDS}, not {self.kind!r}")

    @property
    def attribute(self) -> str:
        return self.field or self.name


@dataclass
class Inputs:
    """Decoded inputs of a job; each task adds its media fields (``image``, ``audio``, ...)."""

    files: dict[str, list[Path]] = field(default_factory=dict)  # input name -> local files
    names: dict[str, list[str]] = field(default_factory=dict)  # input name -> the client's file names
    # input name -> decoded value (a list for an input that takes several files)
    media: dict[str, Any] = field(default_factory=dict)


def N_(message: str) -> str:  # gettext's name for "translate later"
    """Mark ``message`` (a Suggestion's title or reason) as an English message key: the web UI's
    catalogues list the keys marked in genserve's own task modules and translate them where shown."""
    return message


@dataclass(frozen=True)
class Suggestion:
    """A proposal after an upload: parameters that suit the file, with the reason. ``title`` and
    ``reason`` are English message keys (the web UI translates them), ``reason`` formatted with
    ``values``."""

    title: str
    reason: str
    params: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DegradeStep:
    """One rung of a task's OOM ladder: returns new params (a dict) or None when it cannot apply."""

    name: str
    apply: Callable[[dict[str, Any]], tuple[dict[str, Any], str] | None]
    memory_saving: bool = False  # instead of changing params, ask the backend to save memory


@dataclass
class TaskSpec:
    """Everything genserve knows of a task; the CLI options, REST form and route, OpenAPI, the web
    UI tab and input decoding are all derived from it. Register one with
    :func:`genserve.tasks.register_task` (or the ``genserve.tasks`` entry-point group)."""

    name: str  # lowercase, digits and '-': the CLI argument and the route /v1/<name>
    title: str
    description: str
    params_model: type[BaseModel]
    inputs: tuple[MediaInput, ...]
    default_backends: tuple[str, ...] = ()
    output: OutputKind = "json"  # what a job makes: a video, an image, audio, or JSON only
    inputs_type: type[Inputs] = Inputs  # a dataclass with an attribute per input, or Inputs itself
    degrade_ladder: tuple[DegradeStep, ...] = ()
    # checks that need decoded inputs: returns (params, warnings) with any derived values filled in;
    # raises InvalidInput
    check: Callable[[Any, Any], tuple[Any, list[str]]] | None = None
    result_model: type[JobResult] | None = None  # a JobResult subclass with the task's extra fields
    # preset name ("Fast", "Standard", "High quality") -> the parameters it changes from the defaults
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # after an upload of the first input: a suggestion for that file (its path), or None
    suggest: Callable[[Path], Suggestion | None] | None = None
    # how the web UI shows a finished job: "media" (the output file in a player) or a view the web
    # UI knows by name ("document": text, boxes and fields of recognized pages)
    view: str = "media"

    def __post_init__(self) -> None:
        import re

        if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", self.name):
            raise ValueError(
                f"task name {self.name!r}: use lowercase letters, digits and '-' (it becomes /v1/<name>)"
            )
        if self.name in RESERVED_TASK_NAMES:
            raise ValueError(f"task name {self.name!r} is taken by the route /v1/{self.name}: choose another")
        if self.output not in OUTPUT_KINDS:
            raise ValueError(f"task {self.name!r}: output must be one of {OUTPUT_KINDS}, not {self.output!r}")
        names = [m.name for m in self.inputs]
        for name in names:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
                raise ValueError(f"task {self.name!r}: input {name!r}: use lowercase letters, digits and '_'")
        if len(set(names)) != len(names):
            raise ValueError(f"task {self.name!r}: input names must be unique, got {names}")

    def input(self, name: str) -> MediaInput | None:
        return next((m for m in self.inputs if m.name == name), None)
