"""The job as the REST API shows it: the service's :class:`~genserve.service.JobState` with ISO
times, typed params, and the links and artifact URLs of the /v1 routes. The web UI and local
batches read the same shape, so a page, a batch report and `GET /v1/jobs/{id}` agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from genserve.jobs.request import typed_params
from genserve.service import JobState
from genserve.tasks.base import JobStatus


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def job_url(job_id: str, base_url: str = "") -> str:
    return f"{base_url.rstrip('/')}/v1/jobs/{job_id}"


def job_view(state: JobState, base_url: str = "") -> dict[str, Any]:
    """State, progress, queue position and ETA, links, result (its outputs with their URLs), and
    the status history when the state holds it."""
    record = state.record
    base = job_url(record.id, base_url)
    out: dict[str, Any] = {
        "id": record.id,
        "job_id": record.id,  # the result's name for it, so either reads the same
        "task": record.task,
        "backend": record.backend,
        "status": str(record.status),
        "priority": record.priority,
        "params": typed_params(record.task, record.request.get("params", {})),
        "inputs": record.request.get("input_names", {}),
        "warnings": record.request.get("warnings", []),
        "git_commit": record.git_commit,
        "git_branch": record.git_branch,
        "batch": record.request.get("batch"),
        "created_at": iso(record.created_at),
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
        "attempt": record.attempt,
        "error": record.error,
        "message": record.message,
        "progress": None,
        "links": {"self": base, "events": f"{base}/events", "cancel": f"{base}/cancel"},
    }
    if record.status == JobStatus.queued:
        out["queue_position"] = state.queue_position
        out["eta_s"] = state.eta_s
    if record.status == JobStatus.running and record.progress_total:
        out["progress"] = {"step": record.progress_step, "total": record.progress_total}
    result = record.result
    if result is not None:
        result = {
            **result,
            "outputs": [{**o, "url": f"{base}/artifacts/{o['name']}"} for o in result.get("outputs", [])],
        }
        out["artifacts"] = {o["name"]: o["url"] for o in result["outputs"]}
    out["result"] = result
    if state.history is not None:
        out["history"] = [
            {"status": e.data.get("status"), "event": e.type, "at": iso(e.at), "reason": e.data.get("reason")}
            for e in state.history
        ]
    return out
