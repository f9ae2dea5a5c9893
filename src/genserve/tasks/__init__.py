"""The tasks genserve serves, each one module with its Params, Inputs and Result, found like backends.

genserve's own are listed in ``BUILTIN``; a package adds one through the entry-point group
``genserve.tasks`` (a :class:`TaskSpec`, or a module that registers its own), and a module named in
``GENSERVE_PLUGINS`` calls :func:`register_task` as it is imported (see :mod:`genserve.plugins`).
"""

from __future__ import annotations

from typing import Any

from genserve import plugins
from genserve.errors import NotFound
from genserve.tasks.base import (
    DegradeStep,
    Inputs,
    JobResult,
    JobStatus,
    MediaInput,
    OutputFile,
    PeakMemory,
    Suggestion,
    TaskSpec,
    Timings,
)

ENTRY_POINT_GROUP = "genserve.tasks"

BUILTIN: dict[str, str] = {
    "image-to-video": "genserve.tasks.image_to_video:SPEC",
    "talking-head": "genserve.tasks.talking_head:SPEC",
    "recognize": "genserve.tasks.recognize:SPEC",
}


def _task_spec(obj: Any) -> TaskSpec:
    if not isinstance(obj, TaskSpec):
        raise TypeError(f"{obj!r} is not a genserve TaskSpec")
    return obj


TASKS: plugins.Registry[TaskSpec] = plugins.Registry(
    "task", ENTRY_POINT_GROUP, BUILTIN, accept=_task_spec, name_of=lambda spec: spec.name
)


def register_task(spec: TaskSpec) -> TaskSpec:
    """Make ``spec`` a task every door serves (call it where the task's module is imported)."""
    return TASKS.register(spec)


def unregister_task(name: str) -> None:
    TASKS.unregister(name)


def describe_task(spec: TaskSpec) -> dict[str, Any]:
    """What a client needs to call a task: its title, what it makes and the files it takes."""
    return {
        "title": spec.title,
        "description": spec.description,
        "output": spec.output,
        "inputs": [
            {
                "name": m.name,
                "kind": m.kind,
                "required": m.required,
                "multiple": m.multiple,
                "description": m.description,
            }
            for m in spec.inputs
        ],
    }


def get_task(name: str) -> TaskSpec:
    spec = TASKS.get(name)
    if spec is None:
        raise NotFound(
            "unknown task",
            argument="task",
            value=name,
            fix=f"use one of: {', '.join(TASKS)} (see `genserve backends`)",
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
    "Suggestion",
    "TaskSpec",
    "Timings",
    "describe_task",
    "get_task",
    "register_task",
    "unregister_task",
]
