"""Where backends are found: genserve's own, plus the entry-point group ``genserve.backends``.

A third-party package adds a model with, in its pyproject.toml::

    [project.entry-points."genserve.backends"]
    my-model = "my_package.backend:MyBackend"
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from genserve.backends.base import Availability, Backend
from genserve.config import Settings
from genserve.errors import BackendUnavailable, NotFound
from genserve.tasks import TASKS, get_task

ENTRY_POINT_GROUP = "genserve.backends"

# name -> "module:Class"; one line per backend
BUILTIN: dict[str, str] = {
    "camera": "genserve.backends.camera:CameraBackend",
    "portrait": "genserve.backends.portrait:PortraitBackend",
    "sonic": "genserve.backends.sonic:SonicBackend",
    "rapidocr": "genserve.backends.ocr:RapidOCRBackend",
    "modelscope-general": "genserve.backends.modelscope_general:ModelScopeGeneralBackend",
    "i2vgen-xl": "genserve.backends.i2vgen_xl:I2VGenXLBackend",
    "svd": "genserve.backends.svd:StableVideoDiffusionBackend",
    "ltx-video": "genserve.backends.ltx_video:LTXVideoBackend",
}


def _import(target: str) -> type[Backend]:
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise TypeError(f"{target} is not a genserve Backend subclass")
    return cls


@lru_cache(maxsize=1)
def backend_classes() -> dict[str, type[Backend]]:
    found: dict[str, type[Backend]] = {name: _import(target) for name, target in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        try:
            found[ep.name] = _import(ep.value)
        except Exception:  # a broken plug-in must not take the service down
            continue
    return found


def import_plugins(settings: Settings) -> None:
    """Import the modules named in ``GENSERVE_PLUGINS`` (they register backends as they load)."""
    for module in filter(None, (m.strip() for m in settings.plugins.split(","))):
        importlib.import_module(module)


def register(cls: type[Backend]) -> type[Backend]:
    """Register a backend class at run time (tests, notebooks). Usable as a decorator."""
    backend_classes()[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    backend_classes().pop(name, None)


def get_backend_class(task: str, name: str) -> type[Backend]:
    classes = backend_classes()
    cls = classes.get(name)
    if cls is None or cls.task != task:
        names = [n for n, c in classes.items() if c.task == task]
        raise NotFound(
            f"unknown backend for task '{task}'",
            argument="backend",
            value=name,
            fix=f"use one of: {', '.join(names)} (see `genserve backends`)",
        )
    return cls


def resolve_backend(task: str, name: str | None, settings: Settings) -> type[Backend]:
    """The named backend, or the task's first available default; refuses an unavailable one."""
    spec = get_task(task)
    if name:
        cls = get_backend_class(task, name)
        state = cls.availability(settings)
        if not state.ok and not state.explicit_ok:
            raise BackendUnavailable(
                f"backend '{name}' cannot run here: {state.reason}",
                argument="backend",
                fix=state.install or "see `genserve doctor`",
            )
        return cls
    classes = backend_classes()
    candidates = [n for n in spec.default_backends if n in classes]
    candidates += [n for n, c in classes.items() if c.task == task and n not in candidates]
    reasons = []
    for candidate in candidates:
        cls = classes[candidate]
        state = cls.availability(settings)
        if state.ok:
            return cls
        reasons.append(f"{candidate}: {state.reason}")
    raise BackendUnavailable(
        f"no backend for task '{task}' can run here ({'; '.join(reasons) or 'none registered'})",
        argument="backend",
        fix="see `genserve backends` for what to install",
    )


def describe_backends(settings: Settings, task: str | None = None) -> list[dict[str, Any]]:
    """Tasks, backends, availability and parameter defaults (for `genserve backends` and /v1/backends)."""
    rows = []
    for name, cls in sorted(backend_classes().items(), key=lambda kv: (kv[1].task, kv[0])):
        if task and cls.task != task:
            continue
        if cls.task not in TASKS:
            continue
        state: Availability = cls.availability(settings)
        spec = TASKS[cls.task]
        rows.append(
            {
                "task": cls.task,
                "backend": name,
                "description": cls.description,
                "available": state.ok,
                "reason": state.reason or None,
                "install": state.install,
                "weight_free": cls.weight_free,
                "default_model": cls.default_model,
                "devices": list(cls.devices),
                "default": name == _default_name(cls.task, settings),
                "unsupported_params": list(cls.unsupported_params),
                "params_schema": spec.params_model.model_json_schema(),
                "defaults": spec.params_model().model_dump(),
            }
        )
    return rows


def _default_name(task: str, settings: Settings) -> str | None:
    try:
        return resolve_backend(task, None, settings).name
    except BackendUnavailable:
        return None
