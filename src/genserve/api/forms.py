"""Multipart forms to a :class:`~genserve.service.Submission`: files become inputs, known fields
configure the job, and every other field is a task parameter (strings; the Params model converts)."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from genserve.errors import InvalidInput
from genserve.service import Submission, Upload, spool_upload

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
)
MAX_FILES = 64
MAX_FIELDS = 256


async def read_form(request: Request) -> FormData:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise InvalidInput(
            "must be multipart/form-data",
            argument="Content-Type",
            value=content_type or None,
            fix="send a multipart form, e.g. curl -F image=@photo.jpg -F task=image-to-video",
        )
    try:
        return await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    except HTTPException as exc:  # starlette's refusal of the form itself (too many files or fields)
        raise InvalidInput(
            f"is refused: {str(exc.detail).rstrip('.')}",
            argument="form",
            fix=f"send at most {MAX_FILES} files and {MAX_FIELDS} fields in one request; split a batch",
        ) from None


def _param_value(value: str) -> Any:
    return None if value.strip().lower() in ("none", "null") else value


async def submission_from_form(
    form: FormData, *, task: str | None = None, owner: str | None = None, job_fields: bool = True
) -> Submission:
    """Build a Submission; ``task`` fixed by the route, or read from the form's ``task`` field."""
    fields: dict[str, str] = {}
    params: dict[str, Any] = {}
    files: dict[str, list[Upload]] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.setdefault(name, []).append(spool_upload(value.file, value.filename or name))
            elif job_fields and name in JOB_FIELDS:
                fields[name] = value
            elif value != "":  # an empty field means "the default"
                params[name] = _param_value(value)
        if fields.get("params"):
            try:
                given = json.loads(fields["params"])
            except json.JSONDecodeError as exc:
                raise InvalidInput(
                    f"is not valid JSON ({exc.msg})",
                    argument="params",
                    value=fields["params"],
                    fix='e.g. params={"num_frames": 16, "fps": 8}',
                ) from None
            if not isinstance(given, dict):
                raise InvalidInput(
                    "must be a JSON object", argument="params", value=given, fix='e.g. {"fps": 8}'
                )
            params = {**given, **params}
        task = task or fields.get("task")
        if not task:
            raise InvalidInput(
                "is required", argument="task", fix="add -F task=image-to-video (or talking-head, recognize)"
            )
        try:
            priority = int(fields.get("priority") or 0)
        except ValueError:
            raise InvalidInput(
                "must be an integer",
                argument="priority",
                value=fields["priority"],
                fix="e.g. priority=10 (higher runs first)",
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
            owner=owner,
        )
    except Exception:
        for uploads in files.values():
            for upload in uploads:
                upload.path.unlink(missing_ok=True)
        raise
    finally:
        await form.close()
