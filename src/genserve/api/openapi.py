"""The OpenAPI contract of the routes: the error body, the statuses each route answers, and the
multipart forms, derived from the task specs (no door writes a task's fields by hand)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from genserve.errors import GenserveError, all_error_classes
from genserve.jobs.webhooks import EVENT_TYPES
from genserve.tasks import TASKS


class ErrorBody(BaseModel):
    """Every refusal and failure: a stable code, a one-line message that teaches, and the fix."""

    error: str = Field(description="Stable error code, e.g. invalid_input, not_found, unauthorized")
    message: str = Field(description="What went wrong: the argument, the rule, the value and the fix")
    argument: str | None = Field(None, description="The argument (field, header, parameter) at fault")
    fix: str | None = Field(None, description="How to fix it")


def _codes_for(status: int) -> str:
    codes = sorted({cls.code for cls in all_error_classes(GenserveError) if cls.http_status == status})
    return ", ".join(codes)


_WHY = {
    401: "No valid API key or session",
    403: "The client address is not allowed",
    404: "No such job, artifact, task or backend (another tenant's job is not found either)",
    405: "The route does not take this method",
    409: "The request conflicts with the job's state (or the id is taken)",
    413: "An upload or a field is over a size limit",
    415: "A file is not the media it must be",
    416: "The byte range lies outside the artifact",
    422: "A parameter, field or input breaks a rule",
    429: "Too many unfinished jobs for this key (see Retry-After)",
    500: "The job failed on the server (the message says why; never a traceback)",
    503: "A backend, model or device is not available here",
    504: "The job or its model load took longer than its limit",
    507: "Out of memory after every degradation step",
}
ACCESS = (401, 403)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the error body and the codes it carries."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in (*ACCESS, *statuses):
        codes = _codes_for(status)
        out[status] = {
            "model": ErrorBody,
            "description": f"{_WHY[status]}" + (f" (error: {codes})" if codes else ""),
        }
    return out


SUBMIT_ERRORS = (404, 413, 415, 422, 429, 503)
RUN_ERRORS = (*SUBMIT_ERRORS, 409, 500, 504, 507)


FREE_TEXT = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$"  # no control characters but tab and line breaks
ONE_LINE = "^[^\\x00-\\x1f\\x7f]*$"
EVENTS = "|".join(EVENT_TYPES)


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _multipart(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def _param_properties(task: str) -> dict[str, Any]:
    """Each parameter of the task as a form field: its JSON schema (a form sends it as text)."""
    schema = TASKS[task].params_model.model_json_schema()
    props: dict[str, Any] = {}
    for name, declared in schema.get("properties", {}).items():
        prop = {k: v for k, v in declared.items() if k in ("description", "default", "title")}
        # an optional value (anyOf [T, null]) is a field left out: its type is T
        field = next((t for t in declared.get("anyOf", []) if t.get("type") != "null"), declared)
        kind = field.get("type")
        if "enum" in field:
            prop.update(type="string", enum=field["enum"])
        elif kind in ("integer", "number"):
            bounds = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
            prop.update(type=kind, **{k: field[k] for k in bounds if k in field})
        elif kind == "boolean":
            prop["type"] = "boolean"
        else:
            prop.update(type="string", pattern=FREE_TEXT)
            if "maxLength" in field:
                prop["maxLength"] = field["maxLength"]
        props[name] = prop
    return props


def _file_properties(task: str) -> tuple[dict[str, Any], list[str]]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for media in TASKS[task].inputs:
        one = {"type": "string", "format": "binary", "description": media.description}
        many = {"type": "array", "items": one, "minItems": 1, "maxItems": 32}
        props[media.name] = many if media.multiple else one
        if media.required:
            required.append(media.name)
    return props, required


def task_form(task: str, *, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The multipart form of one task: its files (required ones marked) and its parameters."""
    files, required = _file_properties(task)
    params = _param_properties(task)
    if only is not None:
        params = {k: v for k, v in params.items() if k in only}
    return _multipart(_object({**files, **params}, required))


def job_form() -> dict[str, Any]:
    """POST/PUT /v1/jobs: one of the tasks, with its files and its parameters as fields (or as JSON)."""
    variants = []
    for task in TASKS:
        files, required = _file_properties(task)
        params = _param_properties(task)
        props = {**_job_fields(), **files, **params}
        props["task"] = {"type": "string", "enum": [task]}
        props["params"] = {
            **_object(json_params(task), []),
            "description": "The task's parameters as one JSON object (at most 64 KiB, 32 levels); "
            "a parameter also sent as its own field takes that field's value",
        }
        variants.append(_object(props, ["task", *required]))
    form = _multipart({"oneOf": variants})
    form["requestBody"]["content"]["multipart/form-data"]["encoding"] = {
        "params": {"contentType": "application/json"}
    }
    return form


def json_params(task: str) -> dict[str, Any]:
    """The task's parameters as JSON values (the ``params`` part): the Params model's own schema."""
    schema = TASKS[task].params_model.model_json_schema()
    out = {}
    for name, field in schema.get("properties", {}).items():
        prop = {k: v for k, v in field.items() if k not in ("title",)}
        if prop.get("type") == "string" and "enum" not in prop:
            prop["pattern"] = FREE_TEXT
        out[name] = prop
    return out


def _job_fields() -> dict[str, Any]:
    return {
        "backend": {
            "type": "string",
            "maxLength": 64,
            "pattern": ONE_LINE,
            "description": "Default: the task's first available",
        },
        "priority": {
            "type": "integer",
            "minimum": -100,
            "maximum": 100,
            "description": "Higher runs first (default 0)",
        },
        "webhook_url": {
            "type": "string",
            "maxLength": 2000,
            "pattern": r"^https?://[A-Za-z0-9.-]+(:[1-9][0-9]{0,3})?(/[!-~]*)?$",
            "description": "An http(s) URL on a host the server allows (GENSERVE_WEBHOOK_HOSTS; else 403)",
        },
        "webhook_events": {
            "type": "string",
            "pattern": f"^({EVENTS})(,({EVENTS}))*$",
            "description": "Comma-separated event types (default completed)",
        },
        "git_commit": {"type": "string", "maxLength": 64, "pattern": ONE_LINE},
        "git_branch": {"type": "string", "maxLength": 255, "pattern": ONE_LINE},
        "batch": {
            "type": "string",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
            "description": "The batch the job belongs to (`genserve batch`; with batch_row): "
            "GET /v1/jobs?batch= lists it",
        },
        "batch_row": {
            "type": "string",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
            "description": "The job's row in the batch's manifest (with batch)",
        },
        "pool": {
            "type": "string",
            "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$",
            "description": "A GPU pool: with Celery workers the job goes to the queue <task>.<pool>",
        },
    }
