"""The job store: jobs, their status history and events, in SQL (SQLite WAL by default, PostgreSQL by URL).

The store is the truth every executor and door shares. Every change of a job is one conditional
update (:mod:`~genserve.jobs.transition`), so a job is claimed by one worker at a time and finished at
most once: ``finish`` is fenced by the attempt number the claim handed out, and a stale worker's
late answer is refused. Reading (:mod:`~genserve.jobs.listing`), the events
(:mod:`~genserve.jobs.event_log`), the webhook outbox (:mod:`~genserve.jobs.outbox`) and the workers
table (:mod:`~genserve.jobs.worker_table`) live in modules of their own; JobStore puts them together.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from genserve.clock import SYSTEM_CLOCK, Clock
from genserve.config import Settings
from genserve.errors import Conflict
from genserve.jobs.database import begin, create_engine, database_url, migrate
from genserve.jobs.event_log import EventLog, EventWait
from genserve.jobs.events import Event
from genserve.jobs.listing import JobListing
from genserve.jobs.outbox import WebhookOutbox
from genserve.jobs.record import JobRecord
from genserve.jobs.schema import EVENTS, JOBS, OUTBOX
from genserve.jobs.transition import PLUS_ONE, RowData, transition
from genserve.jobs.worker_table import WorkerTable
from genserve.tasks.base import JobStatus

__all__ = ["CancelOutcome", "JobRecord", "JobStore", "database_url"]

# NOTE: the hot statements are built once and run with parameters: building one per call (its
# clauses and SQLAlchemy's cache key for it) cost more than the database's own work on a tiny job
GET_JOB = JOBS.select().where(JOBS.c.id == sa.bindparam("job_id"))
INSERT_JOB = JOBS.insert()


@dataclass
class NextClaim:
    """A worker's claim of the next queued job, made with the result of the one it finished (one
    transaction a job under a backlog); ``taken`` is that job and its ``started`` event, if any."""

    worker: str
    lease_s: float
    taken: tuple[JobRecord, Event] | None = None


class CancelOutcome(StrEnum):
    """What asking to cancel a job did."""

    CANCELED = "canceled"  # it was queued: canceled now
    REQUESTED = "requested"  # it runs: it stops at its next progress step
    ALREADY_CANCELED = "already_canceled"
    FINISHED = "finished"  # it succeeded or failed: there is nothing to cancel
    MISSING = "missing"


class JobStore:
    def __init__(self, url: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.url = url
        self.clock = clock
        self.engine = create_engine(url)
        self.outbox = WebhookOutbox(self.engine, clock)
        self.log = EventLog(self.engine, self.outbox, clock)
        self.listing = JobListing(self.engine, clock)
        self.workers = WorkerTable(self.engine, clock)
        self.notifies = self.log.notifies

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> JobStore:
        return cls(database_url(settings), clock)

    def open(self) -> JobStore:
        migrate(self.engine)
        return self

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False

    # --- create / read / delete -----------------------------------------------------------------

    def create(self, job: JobRecord, position: int | None = None) -> Event:
        """Insert a queued job and its ``queued`` event in one transaction; Conflict if the id exists."""
        with self._inserting(job, job) as conn:
            return self.log.write(
                conn, job.id, "queued", {"status": "queued"}, job.created_at, job.webhook_url is not None
            )

    def create_claimed(self, job: JobRecord, worker: str, lease_s: float) -> tuple[JobRecord, Event, Event]:
        """Insert a job already claimed by ``worker`` (it runs at once, on the submitting thread),
        with its ``queued`` and ``started`` events, in one transaction: the job as stored and the
        two events. Conflict if the id exists. If the worker dies, it is recovered as any claimed job."""
        now = self.clock.now()
        running = dataclasses.replace(
            job, status=JobStatus.running, attempt=1, worker=worker, lease_until=now + lease_s, started_at=now
        )
        hooked = job.webhook_url is not None
        with self._inserting(job, running) as conn:
            queued = self.log.write(conn, job.id, "queued", {"status": "queued"}, job.created_at, hooked)
            data = {"status": "running", "attempt": 1, "worker": worker}
            started = self.log.write(conn, job.id, "started", data, now, hooked)
        return running, queued, started

    @contextlib.contextmanager
    def _inserting(self, job: JobRecord, row: JobRecord) -> Iterator[sa.Connection]:
        """A transaction that inserts ``row`` (unset columns stay NULL); Conflict if the id exists."""
        values = {k: v for k, v in row.__dict__.items() if v is not None}
        values["status"] = str(row.status)
        try:
            with begin(self.engine) as conn:
                conn.execute(INSERT_JOB, values)
                yield conn
        except IntegrityError:
            raise Conflict(
                "a job with this id exists already",
                argument="job_id",
                value=job.id,
                fix="choose another id, or read the existing job",
            ) from None

    def get(self, job_id: str) -> JobRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(GET_JOB, {"job_id": job_id}).first()
        return JobRecord.from_row(row) if row else None

    def delete(self, job_id: str) -> bool:
        with begin(self.engine) as conn:
            conn.execute(EVENTS.delete().where(EVENTS.c.job_id == job_id))
            conn.execute(OUTBOX.delete().where(OUTBOX.c.job_id == job_id))
            return bool(conn.execute(JOBS.delete().where(JOBS.c.id == job_id)).rowcount)

    # --- transitions ---------------------------------------------------------------------------

    def claim(self, job_id: str | None, worker: str, lease_s: float) -> tuple[JobRecord, Event] | None:
        """queued -> running for this worker; None when someone else took it or it was canceled.
        ``job_id`` None: the first queued job, by priority then age (None when there is none)."""
        with begin(self.engine) as conn:
            return self._claim(conn, job_id, worker, lease_s)

    def _claim(
        self, conn: sa.Connection, job_id: str | None, worker: str, lease_s: float
    ) -> tuple[JobRecord, Event] | None:
        now = self.clock.now()
        values = {
            "status": "running",
            "attempt": PLUS_ONE,
            "worker": worker,
            "lease_until": now + lease_s,
            "started_at": now,
        }
        moved = transition(
            conn,
            self.log,
            job_id,
            status="queued",
            values=values,
            at=now,
            event="started",
            data=RowData(status="status", attempt="attempt", worker="worker"),
        )
        if moved is None or moved.record is None or moved.event is None:
            return None
        return moved.record, moved.event

    def heartbeat(self, job_id: str, attempt: int, lease_s: float) -> bool | None:
        """Extend the lease; returns whether a cancel was asked (None: the job is no longer ours)."""
        now = self.clock.now()
        with begin(self.engine) as conn:
            values = {"lease_until": now + lease_s}
            moved = transition(
                conn, self.log, job_id, status="running", attempt=attempt, values=values, at=now
            )
            if moved is None:
                return None
            return bool(
                conn.execute(sa.select(JOBS.c.cancel_requested).where(JOBS.c.id == job_id)).scalar_one()
            )

    def progress(
        self,
        job_id: str,
        attempt: int,
        step: int,
        total: int,
        data: dict[str, Any],
        hooked: bool | None = None,
    ) -> Event | None:
        with begin(self.engine) as conn:
            moved = transition(
                conn,
                self.log,
                job_id,
                status="running",
                attempt=attempt,
                values={"progress_step": step, "progress_total": total},
                at=self.clock.now(),
                event="progress",
                data=data,
                hooked=hooked,
            )
        return moved.event if moved else None

    def finish(
        self,
        job_id: str,
        attempt: int,
        status: JobStatus,
        result: dict[str, Any],
        backend: str | None,
        summary: dict[str, Any] | None = None,
        hooked: bool | None = None,
        running: JobRecord | None = None,
        then: NextClaim | None = None,
    ) -> Event | None:
        """running -> a terminal status, only for the attempt that holds the job (at most once).
        Given the job as it was claimed (``running``), the event carries the job as it finished;
        given ``then``, the first queued job is claimed for its worker in the same transaction."""
        now = self.clock.now()
        error, message = result.get("error"), result.get("message")
        values = {
            "status": str(status),
            "result": result,
            "error": error,
            "message": message,
            "backend": backend,
            "finished_at": now,
            "lease_until": None,
        }
        data = {"status": str(status), "error": error, "message": message, **(summary or {})}
        with begin(self.engine) as conn:
            moved = transition(
                conn,
                self.log,
                job_id,
                status="running",
                attempt=attempt,
                values=values,
                at=now,
                event="completed",
                data=data,
                hooked=hooked,
            )
            if moved is not None and then is not None:
                then.taken = self._claim(conn, None, then.worker, then.lease_s)
        if moved is None or moved.event is None:
            return None
        if running is not None:
            finished: dict[str, Any] = {**values, "status": status}
            moved.event.record = dataclasses.replace(running, **finished)
        return moved.event

    def cancel(self, job_id: str) -> tuple[CancelOutcome, Event | None]:
        """(CANCELED, its completed event) when it was queued; (REQUESTED, None) when it runs; else
        what it is: ALREADY_CANCELED, FINISHED or MISSING (with None)."""
        now = self.clock.now()
        values = {
            "status": "canceled",
            "finished_at": now,
            "error": "canceled",
            "message": "the job was canceled before it started",
        }
        data = {"status": "canceled", "error": "canceled", "message": "canceled while queued"}
        with begin(self.engine) as conn:
            moved = transition(
                conn, self.log, job_id, status="queued", values=values, at=now, event="completed", data=data
            )
            if moved is not None:
                return CancelOutcome.CANCELED, moved.event
            asked = {"cancel_requested": True}
            if transition(conn, self.log, job_id, status="running", values=asked, at=now) is not None:
                return CancelOutcome.REQUESTED, None
            status = conn.execute(sa.select(JOBS.c.status).where(JOBS.c.id == job_id)).scalar_one_or_none()
        if status is None:
            return CancelOutcome.MISSING, None
        return CancelOutcome.ALREADY_CANCELED if status == "canceled" else CancelOutcome.FINISHED, None

    def recover(self, orphaned: list[str], requeue: bool) -> list[Event]:
        """Jobs whose worker died: back to queued (``requeue``) or failed; never left running."""
        now = self.clock.now()
        values: dict[str, Any]
        if requeue:
            values = {"status": "queued", "worker": None, "lease_until": None}
            values["enqueued_at"] = None  # a queue executor publishes it again
            values.update(progress_step=None, progress_total=None, started_at=None)
            event, data = "requeued", {"status": "queued", "reason": "the worker running it stopped"}
        else:
            message = "the worker running this job stopped; it was not requeued"
            event, data = "completed", {"status": "failed", "error": "interrupted", "message": message}
            values = {
                "status": "failed",
                "error": "interrupted",
                "message": message,
                "finished_at": now,
                "lease_until": None,
            }
        events: list[Event] = []
        for job_id in orphaned:
            if not requeue:
                values["result"] = {"job_id": job_id, **data}
            with begin(self.engine) as conn:
                moved = transition(
                    conn, self.log, job_id, status="running", values=values, at=now, event=event, data=data
                )
            if moved is not None and moved.event is not None:
                events.append(moved.event)
        return events

    # --- queue executors ----------------------------------------------------------------------

    def mark_enqueued(self, job_id: str, published: bool = True) -> None:
        """When the job was last published (None: not published; the reconciler publishes it)."""
        at = self.clock.now() if published else None
        with begin(self.engine) as conn:
            conn.execute(JOBS.update().where(JOBS.c.id == job_id).values(enqueued_at=at))

    # --- the parts, under the names callers use -------------------------------------------------

    def search(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        backend: str | None = None,
        git_commit: str | None = None,
        batch: str | None = None,
        owner: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[JobRecord], str | None]:
        return self.listing.search(
            status=status,
            task=task,
            backend=backend,
            git_commit=git_commit,
            batch=batch,
            owner=owner,
            limit=limit,
            cursor=cursor,
        )

    def count(self, status: JobStatus | None = None) -> int:
        return self.listing.count(status)

    def counts(self) -> dict[str, int]:
        return self.listing.counts()

    def queued_by_queue(self) -> dict[str, int]:
        return self.listing.queued_by_queue()

    def unfinished_for_owner(self, owner: str) -> int:
        return self.listing.unfinished_for_owner(owner)

    def queue_position(self, job: JobRecord) -> int:
        return self.listing.queue_position(job)

    def mean_duration(self, task: str, backend: str | None, last: int = 20) -> float | None:
        return self.listing.mean_duration(task, backend, last)

    def running(self) -> list[JobRecord]:
        return self.listing.running()

    def oldest_running_started_at(self) -> float | None:
        return self.listing.oldest_running_started_at()

    def to_publish(self, unpublished_after_s: float, republish_after_s: float, limit: int = 500) -> list[str]:
        return self.listing.to_publish(unpublished_after_s, republish_after_s, limit)

    def add_event(self, job_id: str, type_: str, data: dict[str, Any]) -> Event:
        return self.log.add(job_id, type_, data)

    def events(self, job_id: str, after: int = 0, types: tuple[str, ...] | None = None) -> list[Event]:
        return self.log.of_job(job_id, after, types)

    def events_after(self, after: int, limit: int = 1000) -> list[Event]:
        return self.log.after(after, limit)

    def last_event_id(self) -> int:
        return self.log.last_id()

    def event_notifications(self) -> AbstractContextManager[EventWait]:
        return self.log.notifications()
