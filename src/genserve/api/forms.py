"""Multipart forms to a :class:`~genserve.service.Submission`: files become inputs, known fields
configure the job, and every other field is a task parameter (strings; the Params model converts)."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from genserve.errors import InvalidInput, MediaError, MediaTooLarge
from genserve.media.inputs import EXAMPLE_SUFFIX
from genserve.names import check_field_name, check_text, client_filename
from genserve.service import Submission, Upload, spool_upload
from genserve.tasks import TASKS

JOB_FIELDS = (
    "task",
    "backend",
    "model",
    "device",
    "params",
    "priority",
    "webhook_url",
    "webhook_events",
    "git_commit",
    "git_branch",
    "batch",
    "batch_row",
    "pool",
)
MAX_FILES = 64
MAX_FIELDS = 256
MAX_PARAMS_BYTES = 64 * 1024
MAX_PARAMS_DEPTH = 32
MAX_FIELD_CHARS = 8000


def media_names() -> frozenset[str]:
    """Every input name of the registered tasks: a field by such a name must be a file."""
    return frozenset(media.name for spec in TASKS.values() for media in spec.inputs)


def form_example() -> str:
    """A curl form for the first registered task, e.g. ``-F task=recognize -F image=@image.png``."""
    spec = next(iter(TASKS.values()))
    files = " ".join(f"-F {m.name}=@{m.name}{EXAMPLE_SUFFIX[m.kind]}" for m in spec.inputs if m.required)
    return f"-F task={spec.name} {files}".rstrip()


def task_fix() -> str:
    names = list(TASKS)
    return f"add -F task={names[0]} (the tasks: {', '.join(names)}; GET /v1/backends describes them)"


async def read_form(request: Request) -> FormData:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise InvalidInput(
            "must be multipart/form-data",
            argument="Content-Type",
            value=content_type or None,
            fix=f"send a multipart form, e.g. curl {form_example()} URL",
        )
    try:
        return await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    except HTTPException as exc:  # starlette's refusal of the form itself
        detail = str(exc.detail).rstrip(".")
        if detail.lower().startswith("too many"):
            fix = f"send at most {MAX_FILES} files and {MAX_FIELDS} fields in one request; split a batch"
        else:
            fix = f"send a well-formed multipart body, e.g. curl {form_example()} URL"
        raise InvalidInput(f"is refused: {detail}", argument="form", fix=fix) from None


def _depth(value: Any) -> int:
    """Nesting depth of decoded JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_params(text: str) -> dict[str, Any]:
    """The ``params`` field: a JSON object, at most 64 KiB and 32 levels deep, no NaN or Infinity."""
    example = 'e.g. params={"num_frames": 16, "fps": 8}'
    if len(text.encode()) > MAX_PARAMS_BYTES:
        raise MediaTooLarge(
            f"is larger than {MAX_PARAMS_BYTES} bytes", argument="params", value=len(text), fix=example
        )
    try:
        given = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        given = None
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidInput(
            f"is not valid JSON ({reason})", argument="params", value=text, fix=example
        ) from None
    if given is None or _depth(given) > MAX_PARAMS_DEPTH:
        raise InvalidInput(f"is nested deeper than {MAX_PARAMS_DEPTH} levels", argument="params", fix=example)
    if not isinstance(given, dict):
        raise InvalidInput("must be a JSON object", argument="params", value=given, fix=example)
    return given


def _param_value(value: str) -> Any:
    return None if value.strip().lower() in ("none", "null") else value


async def submission_from_form(
    form: FormData, *, task: str | None = None, owner: str | None = None, job_fields: bool = True
) -> Submission:
    """Build a Submission; ``task`` fixed by the route, or read from the form's ``task`` field."""
    fields: dict[str, str] = {}
    params: dict[str, Any] = {}
    files: dict[str, list[Upload]] = {}
    seen: set[str] = set()
    media = media_names()
    try:
        for name, value in form.multi_items():
            check_field_name(name)  # before anything is written under it
            if isinstance(value, UploadFile):
                filename = client_filename(value.filename, name)
                files.setdefault(name, []).append(spool_upload(value.file, filename))
                continue
            if name in media:
                raise MediaError(
                    "must be a file part (with a filename), not a text field",
                    argument=name,
                    fix=f"e.g. curl -F {name}=@file ...",
                )
            if name in seen:
                raise InvalidInput("is given twice", argument=name, fix=f"send the {name} field once")
            seen.add(name)
            if len(value) > (MAX_PARAMS_BYTES if name == "params" else MAX_FIELD_CHARS):
                raise InvalidInput(
                    f"is longer than {MAX_FIELD_CHARS} characters", argument=name, fix="shorten it"
                )
            check_text(name, value)
            if job_fields and name in JOB_FIELDS:
                fields[name] = value
            elif value != "":  # an empty field means "the default"
                params[name] = _param_value(value)
        if fields.get("params"):
            params = {**parse_params(fields["params"]), **params}
        task = task or fields.get("task")
        if not task:
            raise InvalidInput("is required", argument="task", fix=task_fix())
        try:
            priority = int(fields.get("priority") or 0)
        except ValueError:
            raise InvalidInput(
                "must be an integer",
                argument="priority",
                value=fields["priority"],
                fix="e.g. priority=10 (higher runs first; -100 to 100)",
            ) from None
        return Submission(
            task=task,
            params=params,
            files=files,
            backend=fields.get("backend") or None,
            model=fields.get("model") or None,
            device=fields.get("device") or None,
            priority=priority,
            webhook_url=fields.get("webhook_url") or None,
            webhook_events=fields.get("webhook_events") or None,
            git_commit=fields.get("git_commit") or None,
            git_branch=fields.get("git_branch") or None,
            batch=fields.get("batch") or None,
            batch_row=fields.get("batch_row") or None,
            pool=fields.get("pool") or None,
            owner=owner,
        )
    except Exception:
        for uploads in files.values():
            for upload in uploads:
                upload.discard()
        raise
    finally:
        await form.close()
