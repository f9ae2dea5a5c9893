"""The /v1 routes: thin translations between HTTP and :class:`genserve.service.Service`."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from genserve.api.forms import read_form, submission_from_form
from genserve.errors import error_class
from genserve.service import Service
from genserve.tasks import TASKS

router = APIRouter()
health_router = APIRouter(tags=["health"])
PREFER_WAIT = re.compile(r"\bwait=(\d+(?:\.\d+)?)")
MAX_WAIT_S = 600.0
SSE_KEEPALIVE_S = 15.0
SSE_POLL_S = 1.0  # NOTE: events written by a worker in another process are found by polling the store

JOB_FORM = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["task"],
                    "properties": {
                        "task": {"type": "string", "enum": list(TASKS)},
                        "backend": {"type": "string"},
                        "params": {"type": "string", "description": "JSON object of task parameters"},
                        "image": {"type": "string", "format": "binary"},
                        "audio": {"type": "string", "format": "binary"},
                        "priority": {"type": "integer", "description": "Higher runs first (default 0)"},
                        "webhook_url": {"type": "string"},
                        "webhook_events": {"type": "string", "description": "e.g. started,completed"},
                        "git_commit": {"type": "string"},
                        "git_branch": {"type": "string"},
                    },
                    "additionalProperties": {"type": "string", "description": "a task parameter"},
                }
            }
        }
    }
}


def service_of(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def prefer_wait(request: Request) -> float | None:
    match = PREFER_WAIT.search(request.headers.get("prefer", ""))
    return min(float(match.group(1)), MAX_WAIT_S) if match else None


async def _answer(request: Request, svc: Service, job_id: str, created_status: int) -> JSONResponse:
    wait = prefer_wait(request)
    record = svc.get(job_id)
    headers = {"Location": f"/v1/jobs/{job_id}"}
    if wait is not None:
        record = await svc.wait_async(job_id, wait)
        if record.status.is_terminal():
            headers["Preference-Applied"] = f"wait={wait:g}"
            return JSONResponse(svc.view(record, base_url(request), history=True), 200, headers)
    return JSONResponse(svc.view(record, base_url(request)), created_status, headers)


@router.post("/v1/jobs", status_code=202, openapi_extra=JOB_FORM, tags=["jobs"])
async def create_job(request: Request) -> JSONResponse:
    """Queue a job (multipart: task, backend, params, files). `Prefer: wait=N` waits up to N s for it."""
    svc = service_of(request)
    sub = await submission_from_form(await read_form(request), owner=request.state.owner)
    record = await run_in_threadpool(svc.submit, sub)
    return await _answer(request, svc, record.id, 202)


@router.put("/v1/jobs/{job_id}", status_code=201, openapi_extra=JOB_FORM, tags=["jobs"])
async def put_job(job_id: str, request: Request) -> JSONResponse:
    """Create a job under a client-chosen id, idempotently: a retry returns the same job (200)."""
    svc = service_of(request)
    sub = await submission_from_form(await read_form(request), owner=request.state.owner)
    record, created = await run_in_threadpool(svc.put, job_id, sub)
    return await _answer(request, svc, record.id, 201 if created else 200)


@router.get("/v1/jobs/{job_id}", tags=["jobs"])
def get_job(job_id: str, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return svc.view(svc.get(job_id), base_url(request), history=True)


@router.get("/v1/jobs", tags=["jobs"])
def list_jobs(
    request: Request,
    status: str | None = Query(
        None, description="queued, running, succeeded, failed, canceled (comma-separated)"
    ),
    task: str | None = None,
    backend: str | None = None,
    git_commit: str | None = Query(None, description="A commit id or its prefix"),
    limit: int = Query(50, description="Jobs per page (1-500)"),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
) -> dict[str, Any]:
    svc = service_of(request)
    # with API keys configured, each key lists its own jobs (as in the web UI's history)
    records, next_cursor = svc.list_jobs(
        status=status,
        task=task,
        backend=backend,
        git_commit=git_commit,
        limit=limit,
        cursor=cursor,
        owner=request.state.owner,
    )
    return {"jobs": [svc.view(r, base_url(request)) for r in records], "next_cursor": next_cursor}


@router.post("/v1/jobs/{job_id}/cancel", tags=["jobs"])
def cancel_job(job_id: str, request: Request) -> JSONResponse:
    """Queued: canceled at once (200). Running: stops at its next progress step (202)."""
    svc = service_of(request)
    record = svc.cancel(job_id)
    return JSONResponse(svc.view(record, base_url(request)), 200 if record.status.is_terminal() else 202)


@router.delete("/v1/jobs/{job_id}", status_code=204, tags=["jobs"])
def delete_job(job_id: str, request: Request) -> Response:
    """Remove a finished job, its inputs and its artifacts."""
    service_of(request).delete(job_id)
    return Response(status_code=204)


@router.get("/v1/jobs/{job_id}/artifacts/{name}", tags=["jobs"])
def get_artifact(job_id: str, name: str, request: Request) -> FileResponse:
    """Download an output (HTTP byte ranges supported, for video players)."""
    path, media_type = service_of(request).artifact(job_id, name)
    return FileResponse(path, media_type=media_type, filename=name, content_disposition_type="inline")


@router.get("/v1/jobs/{job_id}/events", tags=["jobs"])
async def job_events(job_id: str, request: Request, after: int = Query(0, ge=0)) -> StreamingResponse:
    """Server-sent events: queued, started, progress, log, completed. Past events are replayed first;
    reconnect with `Last-Event-ID` (or `?after=`) to resume. The stream ends after `completed`."""
    svc = service_of(request)
    svc.get(job_id)
    last = request.headers.get("last-event-id", "")
    start = int(last) if last.isdigit() else after
    return StreamingResponse(
        _event_stream(svc, job_id, start, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(event_id: int, kind: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


async def _event_stream(svc: Service, job_id: str, after: int, request: Request) -> AsyncIterator[str]:
    seen = after
    with svc.bus.subscribe_async(job_id) as live:
        idle = 0.0
        while True:
            events = await run_in_threadpool(svc.events, job_id, seen)
            for event in events:
                seen = event.id
                data = event.to_dict()
                if event.type == "queued":
                    record = svc.store.get(job_id)
                    if record is not None and record.status == "queued":
                        data["position"] = svc.store.queue_position(record)
                yield _sse(event.id, event.type, data)
                if event.type == "completed":
                    return
            if events:
                idle = 0.0
            elif svc.store.get(job_id) is None:
                return  # deleted
            try:
                await asyncio.wait_for(live.get(), timeout=SSE_POLL_S)
            except TimeoutError:
                idle += SSE_POLL_S
                if idle >= SSE_KEEPALIVE_S:
                    idle = 0.0
                    yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return


@router.get("/v1/backends", tags=["backends"])
def list_backends(request: Request) -> dict[str, Any]:
    """Tasks, backends, parameter JSON schemas and defaults, and whether each is loaded here."""
    from genserve.backends.registry import describe_backends

    svc = service_of(request)
    loaded = set((svc.executor.describe().get("loaded") or []) if svc.executor else [])
    rows = describe_backends(svc.settings)
    for row in rows:
        row["loaded"] = any(item.startswith(f"{row['backend']}:") for item in loaded)
    tasks = {
        name: {"title": spec.title, "description": spec.description, "inputs": [m.name for m in spec.inputs]}
        for name, spec in TASKS.items()
    }
    return {"tasks": tasks, "backends": rows}


async def run_task(request: Request, task: str) -> JSONResponse:
    """Submit and wait: the full result, with the HTTP status of its error when it failed."""
    svc = service_of(request)
    sub = await submission_from_form(await read_form(request), task=task, owner=request.state.owner)
    record = await run_in_threadpool(svc.submit, sub)
    record = await svc.wait_async(record.id, svc.settings.run_timeout_s + svc.settings.load_timeout_s)
    view = svc.view(record, base_url(request))
    result = view["result"] or {"job_id": record.id, "status": str(record.status), "task": task}
    if not record.status.is_terminal():
        return JSONResponse({**result, "message": "still running; follow links.self"}, 202)
    status = 200 if record.status == "succeeded" else error_class(record.error).http_status
    return JSONResponse(result, status)


def _task_route(task: str) -> None:
    async def endpoint(request: Request) -> JSONResponse:
        return await run_task(request, task)

    endpoint.__name__ = f"run_{task.replace('-', '_')}"
    endpoint.__doc__ = f"Run one {task} job and answer with its full result (synchronous)."
    inputs = {m.name: {"type": "string", "format": "binary"} for m in TASKS[task].inputs}
    props = {**inputs, **{k: {"type": "string"} for k in TASKS[task].params_model.model_fields}}
    form = {
        "requestBody": {
            "content": {"multipart/form-data": {"schema": {"type": "object", "properties": props}}}
        }
    }
    router.add_api_route(f"/v1/{task}", endpoint, methods=["POST"], openapi_extra=form, tags=["tasks"])


for _task in TASKS:
    _task_route(_task)


@health_router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@health_router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Readiness: the store answers and the executor's workers are alive; loaded models listed."""
    state = service_of(request).ready()
    return JSONResponse(state, 200 if state["ready"] else 503)


@health_router.get("/metrics")
def metrics(request: Request) -> Response:
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
