"""COMPATIBILITY CODE: the original routes, kept so client scripts written against them work unchanged.

- ``POST /generate`` without an ``audio`` part: image-to-video as the original JSON API
  (``image``, ``prompt``, ``resolution``, ``num_frames``, ``fps``, ``steps``, ``guidance_scale``) ->
  ``{"status": "success", "output_path", "parameters", "timestamp", "duration_sec"}`` where
  ``output_path`` is a download URL, or ``{"status": "error", "message", "output_path": null}``.
- ``POST /generate`` with an ``audio`` part: talking-head as the original talking-head client calls it
  (``image``, ``audio``, ``duration``, ``min_resolution``, ``expand_ratio``, ``inference_steps``,
  ``dynamic_scale``, ``motion_scale``, ``lip_sync_align``, ``smooth_motion``; booleans arrive as
  "True"/"False") -> 200 with the MP4 bytes, or a 4xx with a text reason (that client
  raises ``RuntimeError(response.text)``); a client that sends ``Accept: application/json`` gets
  the JSON error shape of the image-to-video variant instead.
- ``POST /api/v1/recognize`` (``image``) -> JSON with ``text_blocks``, ``objects``, ``layout`` as
  the original recognize smoke test reads it.

These only translate fields; the jobs go through the same service as every other door. Their words
stay the original ones (their clients test ``status == "success"``): "success" here is "succeeded" in
``/v1``, "error" is "failed"; ``job_id`` is the job's ``id`` in ``/v1/jobs``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from genserve.api.forms import read_form, submission_from_form
from genserve.api.openapi import RUN_ERRORS, errors, task_form
from genserve.api.routes import base_url, caller_of, service_of
from genserve.errors import GenserveError, error_class
from genserve.jobs.store import JobRecord
from genserve.service import Service, Submission

router = APIRouter(tags=["compatibility"])


async def _run(request: Request, task: str, form: Any) -> tuple[Service, JobRecord]:
    svc = service_of(request)
    caller = caller_of(request)
    sub: Submission = await submission_from_form(form, task=task, owner=caller.owner, job_fields=False)
    return svc, await svc.run_async(sub, caller)


def _status(record: JobRecord) -> int:
    return 504 if not record.status.is_terminal() else error_class(record.error).http_status


I2V_FIELDS = ("prompt", "resolution", "num_frames", "fps", "steps", "guidance_scale")
TALKING_FIELDS = (
    "duration",
    "min_resolution",
    "expand_ratio",
    "inference_steps",
    "dynamic_scale",
    "motion_scale",
    "lip_sync_align",
    "smooth_motion",
)


def _generate_form() -> dict[str, Any]:
    """image-to-video's fields, or with an ``audio`` part talking-head's (one of the two)."""
    i2v = task_form("image-to-video", only=I2V_FIELDS)
    talking = task_form("talking-head", only=TALKING_FIELDS)
    content = i2v["requestBody"]["content"]["multipart/form-data"]
    content["schema"] = {
        "oneOf": [content["schema"], talking["requestBody"]["content"]["multipart/form-data"]["schema"]],
        "description": "image-to-video; with an `audio` part, talking-head (answers MP4 bytes)",
    }
    return i2v


_STATUS_BODY = {
    "description": 'The document\'s error shape: {status: error, message} ("error" is /v1\'s "failed"); '
    "with an audio part text/plain, unless the request sends Accept: application/json",
    "content": {"application/json": {}, "text/plain": {}},
}


def _generate_error(
    request: Request, talking: bool, message: str, status: int, job_id: str | None = None
) -> Response:
    """The original talking-head client reads an error as text; anyone asking for JSON gets the
    same shape as the image-to-video variant."""
    if talking and "application/json" not in request.headers.get("accept", ""):
        return PlainTextResponse(message, status)
    body: dict[str, Any] = {"status": "error", "message": message, "output_path": None}
    if job_id is not None:
        body["job_id"] = job_id
    return JSONResponse(body, status)


@router.post(
    "/generate",
    openapi_extra=_generate_form(),
    responses={
        200: {"content": {"application/json": {}, "video/mp4": {}}, "description": "JSON, or MP4 bytes"},
        **{status: _STATUS_BODY for status in errors(*RUN_ERRORS)},
    },
)
async def generate(request: Request) -> Response:
    """Image-to-video (JSON answer) or, with an ``audio`` part, talking-head (MP4 bytes), for clients
    written against the original /generate route.

    The original words: `"status": "success"` (genserve's `/v1` says `"succeeded"`) or
    `"error"` (`"failed"`); errors with an audio part are text/plain unless `Accept: application/json`."""
    talking = False
    try:
        form = await read_form(request)
        talking = "audio" in form
        svc, record = await _run(request, "talking-head" if talking else "image-to-video", form)
    except GenserveError as exc:
        return _generate_error(request, talking, exc.message, exc.http_status)
    result = record.result or {}
    if record.status != "succeeded":
        message = record.message or "the job did not finish in time"
        return _generate_error(request, talking, message, _status(record), job_id=record.id)
    video = next(o for o in result["outputs"] if o["media_type"] == "video/mp4")
    if talking:
        path, _ = svc.artifact(record.id, video["name"], caller_of(request))
        return FileResponse(
            path, media_type="video/mp4", filename="output_video.mp4", headers={"X-Job-Id": record.id}
        )
    return JSONResponse(
        {
            "status": "success",
            "output_path": f"{base_url(request)}/v1/jobs/{record.id}/artifacts/{video['name']}",
            "parameters": result.get("parameters", {}),
            "timestamp": result.get("timestamp"),
            "duration_sec": result.get("duration_sec"),
            "job_id": record.id,
        }
    )


@router.post(
    "/api/v1/recognize",
    openapi_extra=task_form("recognize"),
    responses={status: _STATUS_BODY for status in errors(*RUN_ERRORS)},
)
async def recognize(request: Request) -> JSONResponse:
    """For clients of the original route:
    `curl -F image=@sample.jpg .../api/v1/recognize | jq -e .text_blocks`.

    The result of `/v1/recognize` plus the original `"status": "success"` (`/v1` says `"succeeded"`;
    on error `"error"`, `/v1`'s `"failed"`) and `job_id` (the job's `id` in `/v1/jobs`)."""
    try:
        form = await read_form(request)
        _, record = await _run(request, "recognize", form)
    except GenserveError as exc:
        return JSONResponse({"status": "error", "message": exc.message}, exc.http_status)
    result = record.result or {}
    if record.status != "succeeded":
        return JSONResponse(
            {"status": "error", "message": record.message, "job_id": record.id}, _status(record)
        )
    return JSONResponse({**result, "status": "success", "job_id": record.id})
