"""The /v1 routes: thin translations between HTTP and :class:`genserve.service.Service`."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    StreamingResponse,
)
from starlette.concurrency import run_in_threadpool
from starlette.responses import MalformedRangeHeader
from starlette.responses import RangeNotSatisfiable as StarletteRangeNotSatisfiable

from genserve.api.forms import read_form, submission_from_form
from genserve.api.openapi import ONE_LINE, RUN_ERRORS, SUBMIT_ERRORS, errors, job_form, task_form
from genserve.api.views import job_view
from genserve.caller import Caller
from genserve.errors import RangeNotSatisfiable, error_class
from genserve.jobs.listing import CURSOR_RE
from genserve.jobs.record import JobRecord
from genserve.service import Service
from genserve.tasks import TASKS, describe_task
from genserve.watch import FOLLOW_POLL_S, JobState

router = APIRouter()
health_router = APIRouter(tags=["health"])
JobId = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="A job id: letters, digits, '-', '_', '.'; it starts with a letter or digit",
    ),
]
STATUS_LIST = r"^(queued|running|succeeded|failed|canceled)(,(queued|running|succeeded|failed|canceled))*$"
PREFER_WAIT = re.compile(r"\bwait=(\d+(?:\.\d+)?)")
MAX_WAIT_S = 600.0
SSE_KEEPALIVE_S = 15.0
SSE_POLL_S = FOLLOW_POLL_S


def service_of(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def caller_of(request: Request) -> Caller:
    """Who is asking, as the access middleware found it."""
    caller: Caller = request.state.caller
    return caller


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def job_view_of(request: Request, record: JobRecord, history: bool = False) -> dict[str, Any]:
    """The job as the API shows it, with links under this request's base URL."""
    return job_view(service_of(request).state(record, history), base_url(request))


def prefer_wait(request: Request) -> float | None:
    match = PREFER_WAIT.search(request.headers.get("prefer", ""))
    return min(float(match.group(1)), MAX_WAIT_S) if match else None


async def _answer(request: Request, svc: Service, job_id: str, created_status: int) -> JSONResponse:
    wait = prefer_wait(request)
    caller = caller_of(request)
    if wait is not None:
        record = await svc.wait_async(job_id, wait, caller)
        return _answer_waited(request, svc.state(record, record.status.is_terminal()), wait, created_status)
    return _answer_waited(request, svc.state(svc.get(job_id, caller)), None, created_status)


def _answer_waited(
    request: Request, state: JobState, wait: float | None, created_status: int
) -> JSONResponse:
    """The finished job (200, with its history) when the client waited for it, else the job as it is."""
    record = state.record
    headers = {"Location": f"/v1/jobs/{record.id}"}
    if wait is not None and record.status.is_terminal():
        headers["Preference-Applied"] = f"wait={wait:g}"
        return JSONResponse(job_view(state, base_url(request)), 200, headers)
    return JSONResponse(job_view(state, base_url(request)), created_status, headers)


async def create_job(request: Request) -> JSONResponse:
    """Queue a job (multipart: task, backend, params, files). `Prefer: wait=N` waits up to N s for it."""
    svc = service_of(request)
    caller = caller_of(request)
    sub = await submission_from_form(await read_form(request), owner=caller.owner)
    wait = prefer_wait(request)
    if wait is not None:  # listening before the job exists: its result is answered without a poll
        return _answer_waited(request, await svc.submit_wait(sub, wait, caller), wait, 202)
    record = await run_in_threadpool(svc.submit, sub)
    return _answer_waited(request, svc.state(record), None, 202)


async def put_job(job_id: JobId, request: Request) -> JSONResponse:
    """Create a job under a client-chosen id, idempotently: a retry returns the same job (200)."""
    svc = service_of(request)
    sub = await submission_from_form(await read_form(request), owner=caller_of(request).owner)
    record, created = await run_in_threadpool(svc.put, job_id, sub)
    return await _answer(request, svc, record.id, 201 if created else 200)


@router.get("/v1/jobs/{job_id}", tags=["jobs"], responses=errors(404, 422))
def get_job(job_id: JobId, request: Request) -> dict[str, Any]:
    """A job: status history, progress, queue position and ETA, result and artifact links."""
    svc = service_of(request)
    return job_view_of(request, svc.get(job_id, caller_of(request)), history=True)


@router.get("/v1/jobs", tags=["jobs"], responses=errors(422))
def list_jobs(
    request: Request,
    status: str | None = Query(
        None,
        description="queued, running, succeeded, failed, canceled (comma-separated)",
        pattern=STATUS_LIST,
    ),
    # NOTE: documented as an enum, checked by the service (its refusal names the tasks)
    task: str | None = Query(None, description="A task name", json_schema_extra={"enum": list(TASKS)}),
    backend: str | None = Query(None, max_length=64, pattern=ONE_LINE),
    git_commit: str | None = Query(
        None, description="A commit id or its prefix", max_length=64, pattern=ONE_LINE
    ),
    batch: str | None = Query(
        None, description="The jobs of a batch (`genserve batch`)", max_length=64, pattern=ONE_LINE
    ),
    limit: int = Query(50, ge=1, le=500, description="Jobs per page (1-500)"),
    cursor: str | None = Query(
        None, description="next_cursor of the previous page", pattern=CURSOR_RE.pattern, max_length=100
    ),
) -> dict[str, Any]:
    """Jobs, newest first. With API keys configured each key lists its own jobs (an admin key: all)."""
    svc = service_of(request)
    records, next_cursor = svc.list_jobs(
        caller_of(request),
        status=status,
        task=task,
        backend=backend,
        git_commit=git_commit,
        batch=batch,
        limit=limit,
        cursor=cursor,
    )
    return {"jobs": [job_view_of(request, r) for r in records], "next_cursor": next_cursor}


@router.post(
    "/v1/jobs/{job_id}/cancel",
    tags=["jobs"],
    responses={202: {"description": "Running: it stops at its next step"}, **errors(404, 409, 422)},
)
def cancel_job(job_id: JobId, request: Request) -> JSONResponse:
    """Queued: canceled at once (200). Running: stops at its next progress step (202)."""
    svc = service_of(request)
    record = svc.cancel(job_id, caller_of(request))
    return JSONResponse(job_view_of(request, record), 200 if record.status.is_terminal() else 202)


@router.delete("/v1/jobs/{job_id}", status_code=204, tags=["jobs"], responses=errors(404, 409, 422))
def delete_job(job_id: JobId, request: Request) -> Response:
    """Remove a finished job, its inputs and its artifacts."""
    service_of(request).delete(job_id, caller_of(request))
    return Response(status_code=204)


@router.get(
    "/v1/jobs/{job_id}/artifacts/{name}",
    tags=["jobs"],
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file"},
        206: {"content": {"application/octet-stream": {}}, "description": "The byte range asked for"},
        307: {"description": "Outputs in object storage: a presigned URL (Location)"},
        **errors(404, 416, 422),
    },
)
def get_artifact(job_id: JobId, name: Annotated[str, Path(max_length=128)], request: Request) -> Response:
    """Download an output (HTTP byte ranges supported, for video players). With outputs in object
    storage: a redirect to a presigned URL (or the bytes, with GENSERVE_ARTIFACT_DOWNLOAD=stream)."""
    svc, caller = service_of(request), caller_of(request)
    url = svc.artifact_url(job_id, name, caller)
    if url is not None:
        return RedirectResponse(url, status_code=307)
    path, media_type = svc.artifact(job_id, name, caller)
    check_range(request.headers.get("range"), path.stat().st_size)
    return FileResponse(path, media_type=media_type, filename=name, content_disposition_type="inline")


def check_range(header: str | None, size: int) -> None:
    """A Range the file cannot satisfy (or that is malformed) is a 416 in genserve's error shape."""
    if header is None:
        return
    try:
        FileResponse._parse_range_header(header, size)
    except (MalformedRangeHeader, StarletteRangeNotSatisfiable):
        exc = RangeNotSatisfiable(
            f"asks for bytes outside the file's {size} bytes (or is not a byte range)",
            argument="Range",
            value=header,
            fix=f"ask for bytes within 0-{max(0, size - 1)}, e.g. Range: bytes=0-1023",
        )
        exc.headers = {"Content-Range": f"bytes */{size}"}  # type: ignore[attr-defined]
        raise exc from None


@router.get(
    "/v1/jobs/{job_id}/events",
    tags=["jobs"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Events"}, **errors(404, 422)},
)
async def job_events(
    job_id: JobId, request: Request, after: int = Query(0, ge=0, le=2**62)
) -> StreamingResponse:
    """Server-sent events: queued, started, progress, log, completed. Past events are replayed first;
    reconnect with `Last-Event-ID` (or `?after=`) to resume. The stream ends after `completed`."""
    svc = service_of(request)
    caller = caller_of(request)
    svc.get(job_id, caller)
    last = request.headers.get("last-event-id", "")
    start = int(last) if last.isdigit() and len(last) < 19 else after
    return StreamingResponse(
        _event_stream(svc, job_id, start, request, caller),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(event_id: int, kind: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


async def _event_stream(
    svc: Service, job_id: str, after: int, request: Request, caller: Caller
) -> AsyncIterator[str]:
    idle = 0.0
    async for event in svc.follow_async(job_id, caller, after, poll_s=SSE_POLL_S):
        if event is not None:
            idle = 0.0
            yield _sse(event.id, event.type, event.to_dict())
        else:
            idle += SSE_POLL_S
            if idle >= SSE_KEEPALIVE_S:
                idle = 0.0
                yield ": keep-alive\n\n"
        if await request.is_disconnected():
            return


@router.get("/v1/backends", tags=["backends"], responses=errors())
def list_backends(request: Request) -> dict[str, Any]:
    """Tasks, backends, parameter JSON schemas and defaults, and whether each is loaded here."""
    from genserve.backends.registry import describe_backends

    svc = service_of(request)
    loaded = {m.backend for m in svc.executor.describe().loaded} if svc.executor else set()
    rows = describe_backends(svc.settings)
    for row in rows:
        row["loaded"] = row["backend"] in loaded
    tasks = {name: describe_task(spec) for name, spec in TASKS.items()}
    from genserve import plugins

    return {"tasks": tasks, "backends": rows, "broken": [vars(b) for b in plugins.broken()]}


async def run_task(request: Request, task: str) -> JSONResponse:
    """Submit and wait: the full result, with the HTTP status of its error when it failed."""
    svc = service_of(request)
    caller = caller_of(request)
    sub = await submission_from_form(await read_form(request), task=task, owner=caller.owner)
    record = await svc.run_async(sub, caller)
    shown = job_view_of(request, record)
    result = shown["result"] or {"job_id": record.id, "status": str(record.status), "task": task}
    if not record.status.is_terminal():
        return JSONResponse({**result, "message": "still running; follow links.self"}, 202)
    status = 200 if record.status == "succeeded" else error_class(record.error).http_status
    return JSONResponse(result, status)


def task_router() -> APIRouter:
    """The routes derived from the registered tasks, built when the app is (after GENSERVE_PLUGINS is
    imported): POST and PUT /v1/jobs with every task's form, and POST /v1/<task> for each task."""
    tasks, form = APIRouter(), job_form()
    tasks.add_api_route(
        "/v1/jobs",
        create_job,
        methods=["POST"],
        status_code=202,
        openapi_extra=form,
        tags=["jobs"],
        responses={200: {"description": "Done within `Prefer: wait=N`"}, **errors(*SUBMIT_ERRORS)},
    )
    tasks.add_api_route(
        "/v1/jobs/{job_id}",
        put_job,
        methods=["PUT"],
        status_code=201,
        openapi_extra=form,
        tags=["jobs"],
        responses={200: {"description": "The same request again: that job"}, **errors(*SUBMIT_ERRORS, 409)},
    )
    for name, spec in TASKS.items():
        tasks.add_api_route(
            f"/v1/{name}",
            _run_endpoint(name),
            methods=["POST"],
            summary=f"{spec.title}",
            description=f"{spec.description}\n\nRun one {name} job and answer with its full result "
            "(synchronous).",
            openapi_extra=task_form(name),
            tags=["tasks"],
            responses={202: {"description": "Still running: follow links.self"}, **errors(*RUN_ERRORS)},
        )
    return tasks


def _run_endpoint(task: str) -> Any:
    async def endpoint(request: Request) -> JSONResponse:
        return await run_task(request, task)

    endpoint.__name__ = f"run_{task.replace('-', '_')}"
    return endpoint


@health_router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@health_router.get("/readyz", responses={503: {"description": "Not ready: the store or executor is down"}})
def readyz(request: Request) -> JSONResponse:
    """Readiness: the store answers and the executor's workers are alive; loaded models listed."""
    state = service_of(request).ready()
    return JSONResponse(state, 200 if state["ready"] else 503)


@health_router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}, **errors()},
)
def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
