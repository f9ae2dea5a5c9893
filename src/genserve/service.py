"""The service: submit, get, list, cancel, delete, wait and events — the only logic the doors call.

Every door (REST routes, the seed-compatible routes, the web UI, the CLI's server commands) goes
through :class:`Service`. Submitting validates everything with ``jobs.prepare()`` before the job is
stored, so a bad request never becomes a queued job; the executor later runs it with ``run_job()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import queue
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genserve.backends.registry import import_plugins
from genserve.caller import Caller
from genserve.config import Settings, get_settings
from genserve.errors import Conflict, GenserveError, InvalidInput, NotFound, RateLimited
from genserve.jobs.artifacts import ArtifactStore, artifact_store
from genserve.jobs.celery_app import queue_name
from genserve.jobs.events import STATUS_EVENTS, Event, EventBus
from genserve.jobs.executor import Executor, make_executor
from genserve.jobs.request import JobRequest, new_job_id, prepare, typed_params
from genserve.jobs.store import JobRecord, JobStore
from genserve.jobs.webhooks import WebhookSender, check_webhook
from genserve.names import (
    JOB_ID_RE,
    check_artifact_name,
    check_field_name,
    check_job_id,
    check_line,
    client_filename,
)
from genserve.sessions import SessionStore
from genserve.tasks import TASKS
from genserve.tasks.base import JobStatus

log = logging.getLogger("genserve.service")

PRIORITY_MIN, PRIORITY_MAX = -100, 100


@dataclass
class Upload:
    """One uploaded file: where it lies now (the service moves it) and the client's name for it."""

    path: Path
    filename: str
    stored: bool = False  # moved into the artifact store


@dataclass
class Submission:
    task: str
    params: dict[str, Any] = field(default_factory=dict)
    files: dict[str, list[Upload]] = field(default_factory=dict)
    backend: str | None = None
    model: str | None = None
    device: str | None = None
    priority: int = 0
    webhook_url: str | None = None
    webhook_events: str | None = None
    git_commit: str | None = None
    git_branch: str | None = None
    owner: str | None = None
    batch: str | None = None  # the batch (`genserve batch`) and its manifest row the job was made for
    batch_row: str | None = None
    pool: str | None = None  # a GPU pool: the job goes to the queue <task>.<pool> (queue executors)

    def fingerprint(self) -> str:
        """Identifies the request (for idempotent PUT): task, backend, params and file contents."""
        digest = hashlib.sha256()
        head = [self.task, self.backend, self.model, self.params, self.priority, self.webhook_url, self.pool]
        digest.update(json.dumps(head, sort_keys=True, default=str).encode())
        for name in sorted(self.files):
            for upload in self.files[name]:
                digest.update(name.encode())
                with upload.path.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
        return digest.hexdigest()


def _check_names(sub: Submission) -> None:
    """Every name in a submission against its allowlist, before any file is stored."""
    for name, uploads in sub.files.items():
        check_field_name(name)
        for upload in uploads:
            client_filename(upload.filename, name)
    for argument in ("task", "backend", "model", "device", "git_commit", "git_branch"):
        value = getattr(sub, argument)
        if value is not None:
            check_line(argument, value, 255 if argument != "model" else 1000)
    if sub.pool is not None:
        queue_name(sub.task, sub.pool)
    for argument in ("webhook_url", "webhook_events"):
        value = getattr(sub, argument)
        if value is not None:
            check_line(argument, value, 2000)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _batch_of(sub: Submission) -> dict[str, Any]:
    """The batch and manifest row a job belongs to, kept with its request (``GET /v1/jobs?batch=``)."""
    if sub.batch is None and sub.batch_row is None:
        return {}
    for argument in ("batch", "batch_row"):
        value = getattr(sub, argument)
        if value is None or not JOB_ID_RE.match(value):
            raise InvalidInput(
                "must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit",
                argument=argument,
                value=value,
                fix="send batch and batch_row together, e.g. batch=release-42 and batch_row=hero",
            )
    return {"batch": {"id": sub.batch, "row": sub.batch_row}}


class Service:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: JobStore | None = None,
        artifacts: ArtifactStore | None = None,
        executor: Executor | None = None,
        bus: EventBus | None = None,
        run_jobs: bool = True,
        webhooks: bool = True,
    ) -> None:
        self.settings = settings or get_settings()
        self.store = store or JobStore.from_settings(self.settings)
        self.artifacts = artifacts or artifact_store(self.settings)
        self.bus = bus or EventBus()
        self.executor = executor
        if self.executor is None and run_jobs:
            self.executor = make_executor(self.settings, self.store, self.artifacts, self.bus)
        self.webhooks = WebhookSender(self.settings, self.store)
        self.sessions = SessionStore(self.store)
        self.send_webhooks = webhooks  # a worker sends none: the API processes deliver the outbox
        if webhooks:
            self.bus.listeners.append(self.webhooks.on_event)
        self.started = False

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Service:
        import_plugins(self.settings)
        Path(self.settings.output_dir).mkdir(parents=True, exist_ok=True)
        self.store.open()
        if self.executor is not None:
            self.executor.start()
        if self.send_webhooks:
            self.webhooks.start()
        self.started = True
        return self

    def stop(self) -> None:
        if self.executor is not None:
            self.executor.stop()
        self.webhooks.close()
        self.store.close()
        self.started = False

    def ready(self) -> dict[str, Any]:
        store_ok = self.store.ping()
        executor = self.executor.describe() if self.executor is not None else {"kind": "none", "alive": True}
        return {"ready": bool(store_ok and executor["alive"]), "store": store_ok, "executor": executor}

    # --- submit --------------------------------------------------------------------------------

    def submit(self, sub: Submission, job_id: str | None = None) -> JobRecord:
        """Validate and queue a job; returns its record (status queued)."""
        record, _ = self._submit(sub, job_id)
        return record

    def put(self, job_id: str, sub: Submission) -> tuple[JobRecord, bool]:
        """Idempotent create with a client-chosen id: (record, created). The same request again (by the
        same owner) returns the existing job; a different one, or any under another tenant's id, is a
        Conflict that says nothing of the existing job."""
        return self._submit(sub, job_id, idempotent=True)

    def _submit(
        self, sub: Submission, job_id: str | None, idempotent: bool = False
    ) -> tuple[JobRecord, bool]:
        try:
            return self._submit_inner(sub, job_id, idempotent)
        finally:
            for uploads in sub.files.values():  # whatever was not moved into the artifact store
                for upload in uploads:
                    if not upload.stored:
                        upload.path.unlink(missing_ok=True)

    def _submit_inner(self, sub: Submission, job_id: str | None, idempotent: bool) -> tuple[JobRecord, bool]:
        # 1. the id, and for PUT the job that may exist already
        if job_id is not None:
            check_job_id(job_id)
        if not PRIORITY_MIN <= sub.priority <= PRIORITY_MAX:
            raise InvalidInput(
                f"must be between {PRIORITY_MIN} and {PRIORITY_MAX}",
                argument="priority",
                value=sub.priority,
                fix="e.g. priority=10 (higher runs first; default 0)",
            )
        _check_names(sub)
        batch = _batch_of(sub)
        job_id = job_id or new_job_id()
        fingerprint = sub.fingerprint() if idempotent else None
        if idempotent:
            existing = self.store.get(job_id)
            if existing is not None:
                return self._same_or_conflict(existing, fingerprint, sub.owner), False
        # 2. limits and webhook rules, before any work
        self._check_rate(sub.owner)
        if sub.webhook_url:
            check_webhook(self.settings, sub.webhook_url, sub.webhook_events)
        # 3. inputs into the artifact store, then full validation
        refs: dict[str, list[str]] = {}
        names: dict[str, list[str]] = {}
        for name, uploads in sub.files.items():
            for i, upload in enumerate(uploads):
                ref = self.artifacts.put_input(job_id, name, i, upload.path, Path(upload.filename).suffix)
                upload.stored = True
                refs.setdefault(name, []).append(ref)
                names.setdefault(name, []).append(client_filename(upload.filename, name))
        request = JobRequest(
            task=sub.task,
            params=sub.params,
            backend=sub.backend,
            model=sub.model,
            device=sub.device,
            job_id=job_id,
            inputs=dict(self.artifacts.input_paths(job_id, refs)),
            input_names=names,
        )
        try:
            prepared = prepare(request, self.settings)
        except GenserveError:
            self.artifacts.discard_inputs(job_id, refs)
            raise
        # 4. store as queued, then tell the executor (after the commit)
        record = JobRecord(
            id=job_id,
            task=prepared.spec.name,
            backend=prepared.backend_cls.name,
            status=JobStatus.queued,
            priority=sub.priority,
            request={
                "params": sub.params,
                "model": sub.model,
                "device": sub.device,
                "inputs": refs,
                "input_names": names,
                "warnings": prepared.warnings,
                **batch,
                **({"pool": sub.pool} if sub.pool else {}),
            },
            owner=sub.owner,
            git_commit=sub.git_commit,
            git_branch=sub.git_branch,
            webhook_url=sub.webhook_url,
            webhook_events=sub.webhook_events,
            fingerprint=fingerprint,
            created_at=time.time(),
        )
        record.enqueued_at = record.created_at  # published right after the commit (a queue executor)
        try:
            event = self.store.create(record)
        except Conflict:
            self.artifacts.discard_inputs(job_id, refs)
            existing = self.store.get(job_id)
            if idempotent and existing is not None:
                return self._same_or_conflict(existing, fingerprint, sub.owner), False
            raise
        self.bus.publish(event)
        if self.executor is not None and self.executor.reuses_prepared:
            self.executor.remember(job_id, prepared)  # it runs here: the decoded inputs are reused
        else:
            self.artifacts.release_inputs(job_id)  # it runs elsewhere: local copies are not needed
        if self.executor is not None:
            self.executor.notify(job_id, record)
        log.info(
            "job queued",
            extra={"job_id": job_id, "task": record.task, "backend": record.backend, "status": "queued"},
        )
        return record, True

    def _same_or_conflict(self, existing: JobRecord, fingerprint: str | None, owner: str | None) -> JobRecord:
        # NOTE: the fingerprint and the owner must both match: another tenant's id is taken, nothing more
        if existing.owner == owner and existing.fingerprint and existing.fingerprint == fingerprint:
            return existing
        raise Conflict(
            "this id is taken by a different job",
            argument="job_id",
            value=existing.id,
            fix="retry with exactly the same request, or choose a new id",
        )

    def _check_rate(self, owner: str | None) -> None:
        limit = self.settings.max_jobs_per_key
        if not limit or not owner:
            return
        if self.store.unfinished_for_owner(owner) >= limit:
            exc = RateLimited(
                f"this key has {limit} unfinished jobs, the most allowed at once",
                fix="wait for one to finish (or cancel one) and retry",
            )
            exc.retry_after = 5  # type: ignore[attr-defined]
            raise exc

    # --- read ----------------------------------------------------------------------------------

    def get(self, job_id: str, caller: Caller) -> JobRecord:
        """The job, when ``caller`` may see it; another tenant's job is NotFound, like a missing one."""
        check_job_id(job_id)
        record = self.store.get(job_id)
        if record is None or not caller.sees(record.owner):
            raise NotFound("no such job", argument="job_id", value=job_id, fix="GET /v1/jobs lists your jobs")
        return record

    def list_jobs(self, caller: Caller, **filters: Any) -> tuple[list[JobRecord], str | None]:
        for argument, value in filters.items():
            if isinstance(value, str):
                check_line(argument, value, 512)
        if filters.get("task") and filters["task"] not in TASKS:  # named, not an empty page
            raise InvalidInput(
                "is not a task", argument="task", value=filters["task"], fix=f"use one of: {', '.join(TASKS)}"
            )
        limit = filters.pop("limit", 50)
        if not 1 <= limit <= 500:
            raise InvalidInput(
                "must be between 1 and 500", argument="limit", value=limit, fix="e.g. limit=50"
            )
        return self.store.search(limit=limit, owner=caller.owner_filter, **filters)

    def events(self, job_id: str, caller: Caller, after: int = 0) -> list[Event]:
        self.get(job_id, caller)
        return self.store.events(job_id, after)

    def _output(self, job_id: str, name: str, caller: Caller) -> dict[str, Any]:
        check_artifact_name(name)
        record = self.get(job_id, caller)
        outputs = (record.result or {}).get("outputs") or []
        found = next((o for o in outputs if o.get("name") == name), None)
        if found is None:
            have = ", ".join(o.get("name", "") for o in outputs) or "none yet"
            raise NotFound("no such artifact", argument="name", value=name, fix=f"this job has: {have}")
        return dict(found)

    def artifact(self, job_id: str, name: str, caller: Caller) -> tuple[Path, str]:
        """A local file of the output (downloaded from object storage when it lives there)."""
        found = self._output(job_id, name, caller)
        media_type = found.get("media_type") or "application/octet-stream"
        return self.artifacts.output_path(job_id, found["path"]), media_type

    def artifact_url(self, job_id: str, name: str, caller: Caller) -> str | None:
        """A presigned download URL when outputs live in object storage and downloads redirect."""
        found = self._output(job_id, name, caller)
        if self.settings.artifact_download != "redirect":
            return None
        return self.artifacts.download_url(job_id, found["path"], name)

    def view(self, record: JobRecord, base_url: str = "", history: bool = False) -> dict[str, Any]:
        """The job as the API shows it: state, progress, queue position and ETA, links, result."""
        base = f"{base_url.rstrip('/')}/v1/jobs/{record.id}"
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
            "created_at": _iso(record.created_at),
            "started_at": _iso(record.started_at),
            "finished_at": _iso(record.finished_at),
            "attempt": record.attempt,
            "error": record.error,
            "message": record.message,
            "progress": None,
            "links": {"self": base, "events": f"{base}/events", "cancel": f"{base}/cancel"},
        }
        if record.status == JobStatus.queued:
            out["queue_position"] = self.store.queue_position(record)
            out["eta_s"] = self._eta(record, out["queue_position"])
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
        if history:
            out["history"] = [
                {
                    "status": e.data.get("status"),
                    "event": e.type,
                    "at": _iso(e.at),
                    "reason": e.data.get("reason"),
                }
                for e in self.store.events(record.id, types=STATUS_EVENTS)
            ]
        return out

    def _eta(self, record: JobRecord, position: int) -> float | None:
        mean = self.store.mean_duration(record.task, record.backend)
        if mean is None:
            return None
        workers = 1
        if self.executor is not None:
            workers = max(1, int(self.executor.describe().get("workers", 1)))
        return round(mean * (position // workers + 1), 3)

    # --- change --------------------------------------------------------------------------------

    def cancel(self, job_id: str, caller: Caller) -> JobRecord:
        """Queued: canceled at once. Running: stops at the next progress step. Finished: Conflict."""
        self.get(job_id, caller)
        outcome, event = self.store.cancel(job_id)
        if outcome == "missing":
            self.get(job_id, caller)
        if outcome == "canceled":
            self.bus.publish(event)
        elif outcome == "requested":
            if self.executor is not None:
                self.executor.cancel(job_id)
            self.bus.publish(self.store.add_event(job_id, "log", {"message": "cancel requested"}))
        elif outcome in ("succeeded", "failed"):
            raise Conflict(
                f"the job has {outcome} already; only queued or running jobs can be canceled",
                argument="job_id",
                value=job_id,
                fix="DELETE /v1/jobs/{id} removes a finished job",
            )
        return self.get(job_id, caller)

    def delete(self, job_id: str, caller: Caller) -> None:
        record = self.get(job_id, caller)
        if not record.status.is_terminal():
            raise Conflict(
                f"the job is {record.status}; a job is deleted only once it has finished",
                argument="job_id",
                value=job_id,
                fix="POST /v1/jobs/{id}/cancel first",
            )
        paths = [o["path"] for o in (record.result or {}).get("outputs", []) if "path" in o]
        self.artifacts.delete(job_id, paths)
        self.store.delete(job_id)

    # --- wait ----------------------------------------------------------------------------------

    # NOTE: a waiter reads the record again only when the job completes, or every second when no
    # event comes (a worker elsewhere may have written it): not once per progress event.

    @property
    def job_time_limit(self) -> float:
        """The longest a job may take from start to result: its model load plus its run."""
        return self.settings.run_timeout_s + self.settings.load_timeout_s

    def wait(self, job_id: str, timeout: float, caller: Caller) -> JobRecord:
        """Block until the job is finished or ``timeout`` seconds passed; returns its record."""
        deadline = time.monotonic() + timeout
        with self.bus.subscribe(job_id) as events:
            record = self.get(job_id, caller)
            while not record.status.is_terminal() and (left := deadline - time.monotonic()) > 0:
                try:
                    if events.get(timeout=min(left, 1.0)).type != "completed":
                        continue
                except queue.Empty:
                    pass
                record = self.get(job_id, caller)
            return record

    async def wait_async(self, job_id: str, timeout: float, caller: Caller) -> JobRecord:
        deadline = time.monotonic() + timeout
        with self.bus.subscribe_async(job_id) as events:
            return await self._until_finished(self.get(job_id, caller), events, deadline, caller)

    async def submit_wait(self, sub: Submission, timeout: float, caller: Caller) -> JobRecord:
        """Submit, then wait up to ``timeout`` seconds for the job to finish; returns its record.
        The wait listens from before the job exists, so no read is needed to catch a quick finish."""
        deadline = time.monotonic() + timeout
        job_id = new_job_id()
        with self.bus.subscribe_async(job_id) as events:
            record = await asyncio.to_thread(self.submit, sub, job_id)
            return await self._until_finished(record, events, deadline, caller)

    async def _until_finished(
        self, record: JobRecord, events: asyncio.Queue[Event], deadline: float, caller: Caller
    ) -> JobRecord:
        while not record.status.is_terminal() and (left := deadline - time.monotonic()) > 0:
            try:
                if (await asyncio.wait_for(events.get(), timeout=min(left, 1.0))).type != "completed":
                    continue
            except TimeoutError:
                pass
            record = self.get(record.id, caller)
        return record

    async def run_async(self, sub: Submission, caller: Caller) -> JobRecord:
        """Submit and wait for the result, up to the job's time limit (the synchronous routes)."""
        return await self.submit_wait(sub, self.job_time_limit, caller)


def spool_upload(data: Any, filename: str, tmp_dir: Path | None = None) -> Upload:
    """Copy a file-like object to a temp file the service can move (used by the doors)."""
    tmp_dir = tmp_dir or Path(tempfile.gettempdir())
    with tempfile.NamedTemporaryFile(delete=False, dir=tmp_dir, prefix="genserve-upload-") as out:
        shutil.copyfileobj(data, out, 1 << 20)
    return Upload(Path(out.name), filename or "upload")
