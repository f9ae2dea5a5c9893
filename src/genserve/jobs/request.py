"""A job request and its validation: task, backend, params and decoded media, before anything runs."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from genserve.backends.base import Backend
from genserve.backends.registry import resolve_backend
from genserve.config import Settings
from genserve.errors import GenserveError, InvalidInput
from genserve.media.inputs import DECODERS
from genserve.tasks import TaskSpec, get_task
from genserve.tasks.base import Inputs


def new_job_id() -> str:
    return uuid.uuid4().hex


@dataclass
class JobRequest:
    """What a caller asks for. ``inputs`` maps an input name to one file or a list (a batch)."""

    task: str
    inputs: dict[str, Path | list[Path]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    backend: str | None = None
    model: str | None = None
    device: str | None = None
    job_id: str | None = None
    input_names: dict[str, list[str]] = field(default_factory=dict)  # the client's file names

    def files(self) -> dict[str, list[Path]]:
        return {k: [Path(p) for p in (v if isinstance(v, list) else [v])] for k, v in self.inputs.items()}


@dataclass
class PreparedJob:
    spec: TaskSpec
    backend_cls: type[Backend]
    params: BaseModel
    inputs: Inputs
    warnings: list[str]


def validate_params(spec: TaskSpec, params: dict[str, Any]) -> BaseModel:
    """The task's Params model from raw values; a rule broken → InvalidInput naming it."""
    try:
        return spec.params_model.model_validate(params)
    except ValidationError as exc:
        raise params_error(spec, exc) from None


def params_error(spec: TaskSpec, exc: ValidationError) -> InvalidInput:
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err["loc"]) or "params"
    fields = spec.params_model.model_fields
    if err["type"] == "extra_forbidden":
        return InvalidInput(
            f"is not a parameter of {spec.name}",
            argument=name,
            value=err.get("input"),
            fix=f"use one of: {', '.join(fields)}",
        )
    rule = err["msg"][0].lower() + err["msg"][1:]
    info = fields.get(name)
    fix = allowed_values(name, info) if info is not None else f"pass a valid {name}"
    more = len(exc.errors()) - 1
    if more:
        rule += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InvalidInput(rule, argument=name, value=err.get("input"), fix=fix)


def typed_params(task: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a job was given, with the types of its task's Params model (a form's "16"
    is shown as 16, "True" as true); as given when they do not validate."""
    from genserve.tasks import TASKS

    spec = TASKS.get(task)
    if spec is None or not params:
        return params
    try:
        typed = spec.params_model.model_validate(params).model_dump(mode="json")
    except ValidationError:
        return params
    return {name: typed.get(name, value) for name, value in params.items()}


def allowed_values(name: str, info: FieldInfo) -> str:
    """What a parameter takes, in words any door can show: "use a fps from 1 to 60 (default 8)"."""
    bounds = {k: getattr(m, k) for m in info.metadata for k in ("ge", "gt", "le", "lt") if hasattr(m, k)}
    choices = _choices(info.annotation)
    if choices:
        fix = f"use one of {', '.join(repr(c) for c in choices)}"
    elif bounds:
        low = f"{bounds['ge']}" if "ge" in bounds else f"more than {bounds['gt']}" if "gt" in bounds else None
        high = (
            f"{bounds['le']}" if "le" in bounds else f"less than {bounds['lt']}" if "lt" in bounds else None
        )
        if low is not None and high is not None:
            fix = f"use a {name} from {low} to {high}"
        elif low is not None:
            fix = f"use a {name} of at least {low}" if "ge" in bounds else f"use a {name} of {low}"
        else:
            fix = f"use a {name} of at most {high}" if "le" in bounds else f"use a {name} {high}"
    else:
        fix = f"use a valid {name}"
    if info.default is not None:
        fix += f" (the default is {info.default!r})" if choices else f" (the default is {info.default})"
    return fix


def _choices(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    for arg in get_args(annotation):  # Optional[Literal[...]]
        if get_origin(arg) is Literal:
            return get_args(arg)
    return ()


def _named_as_sent(exc: GenserveError, stored: Path, name: str | None) -> GenserveError:
    """A refused file named by the name the client sent, not the one genserve stored it under."""
    if name and exc.value in (stored.name, str(stored)):
        exc.value = name
        exc.args = (exc._compose(),)
    return exc


def _decode(kind: str, argument: str, path: Path, sent: str | None, settings: Settings) -> Any:
    try:
        return DECODERS[kind](path, argument, settings)
    except GenserveError as exc:
        raise _named_as_sent(exc, path, sent) from None


def build_inputs(
    spec: TaskSpec, files: dict[str, list[Path]], names: dict[str, list[str]], media: dict[str, Any]
) -> Inputs:
    """The task's Inputs: files, client names, decoded media by input name, and each decoded value
    on the attribute its MediaInput names (when the task's Inputs type has it)."""
    attributes = {f.name for f in fields(spec.inputs_type)}
    extra = {m.attribute: media[m.name] for m in spec.inputs if m.name in media and m.attribute in attributes}
    return spec.inputs_type(files=files, names=names, media=media, **extra)


def random_seed() -> int:
    return secrets.randbelow(2**32)


def prepare(request: JobRequest, settings: Settings) -> PreparedJob:
    """Validate everything a job needs, cheapest checks first; raises a GenserveError on the first problem."""
    # 1. task, backend, params
    spec = get_task(request.task)
    backend_cls = resolve_backend(spec.name, request.backend, settings)
    params = validate_params(spec, request.params)
    # 2. files: all required present, none unknown
    files = request.files()
    declared = {m.name: m for m in spec.inputs}
    for name in files:
        if name not in declared:
            raise InvalidInput(
                f"is not an input of {spec.name}",
                argument=name,
                fix=f"inputs are: {', '.join(declared)}",
            )
    for media in spec.inputs:
        given = files.get(media.name, [])
        if media.required and not given:
            raise InvalidInput(
                "is required", argument=media.name, fix=f"send the {media.name} file ({media.description})"
            )
        if len(given) > 1 and not media.multiple:
            raise InvalidInput(
                "takes one file", argument=media.name, value=len(given), fix="pass a single file"
            )
        if len(given) > settings.max_batch_files:  # before any decode: a batch's memory is bounded
            raise InvalidInput(
                f"takes at most {settings.max_batch_files} files in one job",
                argument=media.name,
                value=len(given),
                fix=f"split the batch into jobs of at most {settings.max_batch_files} files "
                "(or raise GENSERVE_MAX_BATCH_FILES, up to 64)",
            )
    # 3. decode media (type sniffed from content, size limits)
    names = {k: request.input_names.get(k) or [p.name for p in v] for k, v in files.items()}
    decoded: dict[str, Any] = {}
    for media in spec.inputs:
        paths, sent = files.get(media.name, []), names.get(media.name, [])
        found = [
            _decode(media.kind, media.name, p, sent[i] if i < len(sent) else None, settings)
            for i, p in enumerate(paths)
        ]
        if media.multiple:
            decoded[media.name] = found
        elif found:
            decoded[media.name] = found[0]
    inputs = build_inputs(spec, files, names, decoded)
    # 4. checks across inputs and params (e.g. the talking-head duration rule)
    warnings: list[str] = []
    if spec.check is not None:
        params, warnings = spec.check(inputs, params)
    # 5. a seed is always recorded: draw one when none was asked for
    if "seed" in type(params).model_fields and dict(params)["seed"] is None:
        params = params.model_copy(update={"seed": random_seed()})
    for name in backend_cls.unsupported_params:
        # a parameter the backend ignores gets one warning: that it is not used (not also its range)
        warnings = [w for w in warnings if not w.startswith(f"{name}=")]
        if name in request.params:
            warnings.append(f"{name} is not used by the {backend_cls.name} backend")
    return PreparedJob(spec=spec, backend_cls=backend_cls, params=params, inputs=inputs, warnings=warnings)
