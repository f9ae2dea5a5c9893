"""The service: submit, get, list, cancel, delete, wait and events — the only logic the doors call.

Every door (REST routes, the seed-compatible routes, the web UI, the CLI's server commands) goes
through :class:`Service`. Submitting validates everything with ``jobs.prepare()`` before the job is
stored, so a bad request never becomes a queued job; the executor later runs it with ``run_job()``.
The service answers with data (records, :class:`JobState`, events) and words its errors for every
door; a door shapes them (the REST views are genserve.api.views). What a submission holds is
genserve.submission; a job's state, its events and every way to wait for it, genserve.watch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from genserve.backends.registry import import_plugins
from genserve.caller import Caller
from genserve.clock import SYSTEM_CLOCK, Clock
from genserve.config import Settings, get_settings
from genserve.errors import Conflict, GenserveError, InvalidInput, NotFound, RateLimited
from genserve.jobs.artifacts import ArtifactStore, artifact_store
from genserve.jobs.events import EventBus
from genserve.jobs.executor import Executor, ExecutorState, make_executor
from genserve.jobs.request import JobRequest, new_job_id, prepare
from genserve.jobs.store import CancelOutcome, JobRecord, JobStore
from genserve.jobs.webhooks import WebhookSender, check_webhook
from genserve.names import check_artifact_name, check_job_id, check_line, client_filename
from genserve.sessions import SessionStore
from genserve.submission import Submission, Upload, check_submission, spool_upload
from genserve.tasks import TASKS
from genserve.tasks.base import JobStatus
from genserve.watch import JobState, Watching

__all__ = ["JobState", "Service", "Submission", "Upload", "spool_upload"]  # doors import these here

log = logging.getLogger("genserve.service")


class Service(Watching):
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
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        # one clock for leases, time limits, waits and ETAs: the given one, else the store's
        self.clock = clock or (store.clock if store is not None else SYSTEM_CLOCK)
        self.store = store or JobStore.from_settings(self.settings, self.clock)
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
        # NOTE: waiting submits run here, not on the event loop's default threads: such a thread
        # may go on to run its job (run_here), and jobs must not starve the loop's other calls
        self.submit_threads = ThreadPoolExecutor(self.settings.workers + 16, "genserve-submit")
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
        self.submit_threads.shutdown(wait=False, cancel_futures=True)
        self.webhooks.close()
        self.store.close()
        self.started = False

    def ready(self) -> dict[str, Any]:
        store_ok = self.store.ping()
        executor = self.executor.describe() if self.executor is not None else ExecutorState("none", True)
        return {"ready": bool(store_ok and executor.alive), "store": store_ok, "executor": executor.to_dict()}

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
        self,
        sub: Submission,
        job_id: str | None,
        idempotent: bool = False,
        committed: Callable[[JobRecord, bool], None] | None = None,
    ) -> tuple[JobRecord, bool]:
        try:
            return self._submit_inner(sub, job_id, idempotent, committed)
        finally:
            for uploads in sub.files.values():  # whatever was not moved into the artifact store
                for upload in uploads:
                    upload.discard()

    def _submit_inner(
        self,
        sub: Submission,
        job_id: str | None,
        idempotent: bool,
        committed: Callable[[JobRecord, bool], None] | None,
    ) -> tuple[JobRecord, bool]:
        """``committed``: told of the job once it is committed, and whether it runs on this thread
        (the caller waits for it, so while a worker's slot is free it is not handed to a worker)."""
        # 1. the id, and for PUT the job that may exist already
        if job_id is not None:
            check_job_id(job_id)
        batch = check_submission(sub)
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
                ref = self.artifacts.put_input(job_id, name, i, upload.content, Path(upload.filename).suffix)
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
            created_at=self.clock.now(),
        )
        record.enqueued_at = record.created_at  # published right after the commit (a queue executor)
        # 4. store as queued and tell the executor after the commit; or, for a caller that waits
        # while a worker's slot is free, store it as claimed (one transaction) and run it here
        here = self.executor.slot_here() if committed is not None and self.executor else nullcontext(None)
        with here as worker:
            try:
                if worker is None:
                    events = [self.store.create(record)]
                else:
                    running, *events = self.store.create_claimed(record, worker, self.settings.lease_s)
            except Conflict:
                self.artifacts.discard_inputs(job_id, refs)
                existing = self.store.get(job_id)
                if idempotent and existing is not None:
                    return self._same_or_conflict(existing, fingerprint, sub.owner), False
                raise
            self.bus.publish(events[0])
            log.info(
                "job queued",
                extra={"job_id": job_id, "task": record.task, "backend": record.backend, "status": "queued"},
            )
            if committed is not None:
                committed(record, worker is not None)
            if worker is not None and self.executor is not None:
                self.executor.run_claimed(running, events[1], prepared)  # publishes its start
                return record, True
        if self.executor is not None and self.executor.reuses_prepared:
            self.executor.remember(job_id, prepared)  # it runs here: the decoded inputs are reused
        else:
            self.artifacts.release_inputs(job_id)  # it runs elsewhere: local copies are not needed
        if self.executor is not None:
            self.executor.notify(job_id, record)
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
            fix = "list your jobs to find its id"
            raise NotFound("no such job", argument="job_id", value=job_id, fix=fix)
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

    # --- change --------------------------------------------------------------------------------

    def cancel(self, job_id: str, caller: Caller) -> JobRecord:
        """Queued: canceled at once. Running: stops at the next progress step. Finished: Conflict."""
        self.get(job_id, caller)
        outcome, event = self.store.cancel(job_id)
        if outcome is CancelOutcome.CANCELED:
            self.bus.publish(event)
        elif outcome is CancelOutcome.REQUESTED:
            if self.executor is not None:
                self.executor.cancel(job_id)
            self.bus.publish(self.store.add_event(job_id, "log", {"message": "cancel requested"}))
        record = self.get(job_id, caller)  # MISSING: deleted meanwhile, NotFound
        if outcome is CancelOutcome.FINISHED:
            raise Conflict(
                f"the job has {record.status} already; only queued or running jobs can be canceled",
                argument="job_id",
                value=job_id,
                fix="a finished job can be deleted, not canceled",
            )
        return record

    def delete(self, job_id: str, caller: Caller) -> None:
        record = self.get(job_id, caller)
        if not record.status.is_terminal():
            raise Conflict(
                f"the job is {record.status}; a job is deleted only once it has finished",
                argument="job_id",
                value=job_id,
                fix="cancel the job first",
            )
        paths = [o["path"] for o in (record.result or {}).get("outputs", []) if "path" in o]
        self.artifacts.delete(job_id, paths)
        self.store.delete(job_id)
