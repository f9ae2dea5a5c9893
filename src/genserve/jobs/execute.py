"""Running one claimed job: inputs from the artifact store, throttled progress events with an
ETA, :func:`genserve.jobs.runner.run_job`, outputs committed and the result recorded once (fenced by
the attempt number). The local executor and the queue workers both call :func:`execute_job`."""

from __future__ import annotations

import logging
from typing import Any

from genserve.clock import Clock
from genserve.config import Settings
from genserve.jobs.artifacts import ArtifactStore
from genserve.jobs.events import EventBus
from genserve.jobs.request import JobRequest, PreparedJob
from genserve.jobs.runner import BackendCache, run_job
from genserve.jobs.store import JobRecord, JobStore, NextClaim
from genserve.tasks.base import JobStatus

log = logging.getLogger("genserve.executor")

PROGRESS_INTERVAL_S = 0.25  # NOTE: progress events are written at most 4 times a second per job


def execute_job(
    record: JobRecord,
    *,
    settings: Settings,
    store: JobStore,
    artifacts: ArtifactStore,
    bus: EventBus,
    cache: BackendCache,
    is_canceled: Any,
    device: str | None = None,
    prepared: PreparedJob | None = None,
    clock: Clock | None = None,
    then: NextClaim | None = None,
) -> JobStatus | None:
    """Run a claimed job through ``run_job`` and record its result (fenced by the attempt number).
    Its time limit and ETAs read ``clock`` (by default the store's). ``then``: claim the next
    queued job with the result (see :meth:`JobStore.finish`)."""
    clock = clock or store.clock
    req = record.request
    # 1. inputs from the artifact store, unless the job runs on the inputs decoded at submit
    refs = req.get("inputs", {})
    request = JobRequest(
        task=record.task,
        inputs={} if prepared is not None else dict(artifacts.input_paths(record.id, refs)),
        params=req.get("params", {}),
        backend=record.backend,
        model=req.get("model"),
        device=req.get("device") or device,
        job_id=record.id,
        input_names=req.get("input_names", {}),
    )
    hooked = record.webhook_url is not None  # its events queue webhook deliveries
    # 2. progress: throttled events with an ETA
    started = clock.monotonic()
    last = [0.0]

    def on_progress(step: int, total: int, message: str | None) -> None:
        if step < 0:
            if message:
                bus.publish(store.add_event(record.id, "log", {"message": message}))
            return
        if step == total == 1:  # a one-step job's only step is done: its completion says the same
            return
        now = clock.monotonic()
        if step not in (1, total) and now - last[0] < PROGRESS_INTERVAL_S:
            return
        last[0] = now
        eta = (now - started) / step * (total - step) if step > 0 and total >= step else None
        data = {
            "step": step,
            "total": total,
            "message": message,
            "eta_s": None if eta is None else round(eta, 3),
        }
        bus.publish(store.progress(record.id, record.attempt, step, total, data, hooked))
        record.progress_step, record.progress_total = step, total

    # 3. run, then record at most once
    result = run_job(
        request,
        settings=settings,
        cache=cache,
        on_progress=on_progress,
        is_canceled=is_canceled,
        prepared=prepared,
        clock=clock,
    )
    result.timings.queue = round((record.started_at or clock.now()) - record.created_at, 4)
    payload = result.model_dump(mode="json")
    if req.get("batch"):  # the batch and manifest row it was made for (genserve batch)
        payload["provenance"] = {**(payload.get("provenance") or {}), "batch": req["batch"]}
    if result.status == JobStatus.succeeded:  # e.g. into object storage, before the result is recorded
        payload = artifacts.commit_outputs(record.id, payload)
    summary = {
        "task": record.task,
        "backend": result.backend,
        "timings": payload["timings"],
        "duration_sec": result.duration_sec,
    }
    event = store.finish(
        record.id, record.attempt, result.status, payload, result.backend, summary, hooked, record, then
    )
    if event is None:
        log.warning("job %s: finished after losing its lease; result dropped", record.id)
        return None
    bus.publish(event)
    log.info(
        "job finished",
        extra={
            "job_id": record.id,
            "task": record.task,
            "backend": result.backend,
            "status": str(result.status),
            "duration_sec": result.duration_sec,
            "timings": payload["timings"],
            "error": result.error,
        },
    )
    return result.status
