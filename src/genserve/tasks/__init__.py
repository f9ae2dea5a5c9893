"""The three tasks genserve serves, each with its Params, Inputs and Result."""

from __future__ import annotations

from genserve.errors import NotFound
from genserve.tasks import image_to_video, recognize, talking_head
from genserve.tasks.base import (
    DegradeStep,
    Inputs,
    JobResult,
    JobStatus,
    MediaInput,
    OutputFile,
    PeakMemory,
    TaskSpec,
    Timings,
)

TASKS: dict[str, TaskSpec] = {
    spec.name: spec for spec in (image_to_video.SPEC, talking_head.SPEC, recognize.SPEC)
}


def get_task(name: str) -> TaskSpec:
    spec = TASKS.get(name)
    if spec is None:
        raise NotFound(
            "unknown task",
            argument="task",
            value=name,
            fix=f"use one of: {', '.join(TASKS)}",
        )
    return spec


__all__ = [
    "TASKS",
    "DegradeStep",
    "Inputs",
    "JobResult",
    "JobStatus",
    "MediaInput",
    "OutputFile",
    "PeakMemory",
    "TaskSpec",
    "Timings",
    "get_task",
]
