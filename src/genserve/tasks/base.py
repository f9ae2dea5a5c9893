"""What every task shares: the result envelope and the task description the runner reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class MediaInput:
    """A file input a task takes."""

    name: str
    kind: str  # "image" | "audio"
    required: bool = True
    description: str = ""
    multiple: bool = False  # a batch: several files under one name


@dataclass
class Inputs:
    """Decoded inputs of a job; each task adds its media fields (``image``, ``audio``, ...)."""

    files: dict[str, list[Path]] = field(default_factory=dict)  # input name -> local files
    names: dict[str, list[str]] = field(default_factory=dict)  # input name -> the client's file names


@dataclass(frozen=True)
class DegradeStep:
    """One rung of a task's OOM ladder: returns new params (a dict) or None when it cannot apply."""

    name: str
    apply: Callable[[dict[str, Any]], tuple[dict[str, Any], str] | None]
    memory_saving: bool = False  # instead of changing params, ask the backend to save memory


@dataclass
class TaskSpec:
    name: str
    title: str
    description: str
    params_model: type[BaseModel]
    inputs_type: type[Inputs]
    inputs: tuple[MediaInput, ...]
    default_backends: tuple[str, ...]
    degrade_ladder: tuple[DegradeStep, ...] = ()
    # checks that need decoded inputs: returns (params, warnings) with any derived values filled in;
    # raises InvalidInput
    check: Callable[[Any, Any], tuple[Any, list[str]]] | None = None
    result_model: type[JobResult] | None = None  # a JobResult subclass with the task's extra fields
