"""Where backends are found: genserve's own, plus the entry-point group ``genserve.backends``.

A third-party package adds a model with, in its pyproject.toml::

    [project.entry-points."genserve.backends"]
    my-model = "my_package.backend:MyBackend"

or a module named in ``GENSERVE_PLUGINS`` decorates its class with :func:`register`
(see :mod:`genserve.plugins`).
"""

from __future__ import annotations

from typing import Any

from genserve import plugins
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


def _backend_class(obj: Any) -> type[Backend]:
    if not (isinstance(obj, type) and issubclass(obj, Backend)):
        raise TypeError(f"{obj!r} is not a genserve Backend subclass")
    return obj


BACKENDS: plugins.Registry[type[Backend]] = plugins.Registry(
    "backend", ENTRY_POINT_GROUP, BUILTIN, accept=_backend_class, name_of=lambda cls: cls.name
)


def backend_classes() -> plugins.Registry[type[Backend]]:
    """Every registered backend class, by name."""
    return BACKENDS


def import_plugins(settings: Settings) -> None:
    """Import the modules named in ``GENSERVE_PLUGINS`` (they register tasks and backends as they load)."""
    plugins.import_plugins(settings.plugins)


def register(cls: type[Backend]) -> type[Backend]:
    """Register a backend class (a plugin module, tests, notebooks). Usable as a decorator."""
    return BACKENDS.register(cls)


def unregister(name: str) -> None:
    BACKENDS.unregister(name)


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
