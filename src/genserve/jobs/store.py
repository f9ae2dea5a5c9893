"""The job store: jobs, their status history and events, in SQL (SQLite WAL by default, PostgreSQL by URL).

The store is the truth every executor and door shares. Transitions are conditional updates, so a
job is claimed by one worker at a time and finished at most once: ``finish`` is fenced by the
attempt number the claim handed out, and a stale worker's late answer is refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from genserve.config import Settings
from genserve.errors import Conflict, InvalidInput
from genserve.tasks.base import JobStatus

META = sa.MetaData()
JOBS = sa.Table(
    "jobs",
    META,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("task", sa.String(64), nullable=False),
    sa.Column("backend", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("result", sa.JSON),
    sa.Column("error", sa.String(64)),
    sa.Column("message", sa.Text),
    sa.Column("progress_step", sa.Integer),
    sa.Column("progress_total", sa.Integer),
    sa.Column("attempt", sa.Integer, nullable=False, default=0),
    sa.Column("worker", sa.String(200)),
    sa.Column("lease_until", sa.Float),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("owner", sa.String(64)),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("git_branch", sa.String(255)),
    sa.Column("webhook_url", sa.Text),
    sa.Column("webhook_events", sa.String(255)),
    sa.Column("fingerprint", sa.String(64)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("enqueued_at", sa.Float),  # last published to a broker (queue executors)
)
WORKERS = sa.Table(
    "workers",
    META,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("queues", sa.Text, nullable=False),
    sa.Column("device", sa.String(64)),
    sa.Column("busy", sa.Integer, nullable=False, default=0),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
)
OUTBOX = sa.Table(
    "webhook_outbox",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Integer, nullable=False, unique=True),
    sa.Column("job_id", sa.String(64), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_at", sa.Float, nullable=False),
    sa.Column("claimed_until", sa.Float),
    sa.Column("state", sa.String(16), nullable=False, default="pending"),  # pending | delivered | failed
    sa.Column("last_error", sa.Text),
)
DEFAULT_WEBHOOK_EVENTS = "completed"  # NOTE: the same default as genserve.jobs.webhooks
EVENTS = sa.Table(
    "job_events",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)
# event types that change a job's status; they make up its history
STATUS_EVENTS = ("queued", "started", "requeued", "completed")
EVENT_CHANNEL = "genserve_events"  # PostgreSQL NOTIFY channel: an event was written


@dataclass
class JobRecord:
    id: str
    task: str
    status: JobStatus
    request: dict[str, Any]
    created_at: float
    backend: str | None = None
    priority: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    message: str | None = None
    progress_step: int | None = None
    progress_total: int | None = None
    attempt: int = 0
    worker: str | None = None
    lease_until: float | None = None
    cancel_requested: bool = False
    owner: str | None = None
    git_commit: str | None = None
    git_branch: str | None = None
    webhook_url: str | None = None
    webhook_events: str | None = None
    fingerprint: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    enqueued_at: float | None = None

    @classmethod
    def from_row(cls, row: Any) -> JobRecord:
        data = dict(row._mapping)
        data["status"] = JobStatus(data["status"])
        return cls(**data)


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@dataclass
class Event:
    id: int
    job_id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0
    relayed: bool = False  # read back from the store (written by a worker elsewhere), not made here

    def to_dict(self) -> dict[str, Any]:
        """The event as the API sends it; ``at`` in ISO 8601 (UTC, microseconds) like every other time."""
        return {"id": self.id, "job_id": self.job_id, "type": self.type, "at": iso_time(self.at), **self.data}


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{Path(settings.data_dir).resolve() / 'jobs.db'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # NOTE: WAL lets readers run while one writer writes; busy_timeout makes writers queue, not fail
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parents[1] / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class JobStore:
    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = sa.create_engine(url, **kwargs)
        self.notifies = self.engine.dialect.name == "postgresql"
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        return cls(database_url(settings))

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

    # --- create / read -------------------------------------------------------------------------

    def create(self, job: JobRecord, position: int | None = None) -> Event:
        """Insert a queued job and its ``queued`` event in one transaction; Conflict if the id exists."""
        row = {k: v for k, v in job.__dict__.items()}
        row["status"] = str(job.status)
        try:
            with self.engine.begin() as conn:
                conn.execute(JOBS.insert().values(**row))
                hooked = job.webhook_url is not None
                return self._add_event(conn, job.id, "queued", {"status": "queued"}, job.created_at, hooked)
        except IntegrityError:
            raise Conflict(
                "a job with this id exists already",
                argument="job_id",
                value=job.id,
                fix="choose another id, or GET /v1/jobs/{id} to read the existing job",
            ) from None

    def get(self, job_id: str) -> JobRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(JOBS.select().where(JOBS.c.id == job_id)).first()
        return JobRecord.from_row(row) if row else None

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
        """Newest first; ``cursor`` continues after the last job of the previous page."""
        query = JOBS.select()
        if status:
            statuses = [s.strip() for s in status.split(",")]
            for s in statuses:
                if s not in JobStatus.__members__:
                    raise InvalidInput(
                        "is not a job status", argument="status", value=s, fix=f"use {', '.join(JobStatus)}"
                    )
            query = query.where(JOBS.c.status.in_(statuses))
        if task:
            query = query.where(JOBS.c.task == task)
        if backend:
            query = query.where(JOBS.c.backend == backend)
        if git_commit:
            query = query.where(JOBS.c.git_commit.startswith(git_commit, autoescape=True))
        if batch:  # the request's batch.id (JSON: json_extract on SQLite, #>> on PostgreSQL)
            query = query.where(JOBS.c.request[("batch", "id")].as_string() == batch)
        if owner:
            query = query.where(JOBS.c.owner == owner)
        if cursor:
            created, last_id = _decode_cursor(cursor)
            query = query.where(
                sa.or_(
                    JOBS.c.created_at < created, sa.and_(JOBS.c.created_at == created, JOBS.c.id < last_id)
                )
            )
        query = query.order_by(JOBS.c.created_at.desc(), JOBS.c.id.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = [JobRecord.from_row(r) for r in conn.execute(query)]
        page, more = rows[:limit], len(rows) > limit
        next_cursor = _encode_cursor(page[-1].created_at, page[-1].id) if more and page else None
        return page, next_cursor

    def count(self, status: JobStatus | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(JOBS)
        if status is not None:
            query = query.where(JOBS.c.status == str(status))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def counts(self) -> dict[str, int]:
        query = sa.select(JOBS.c.status, sa.func.count()).group_by(JOBS.c.status)
        with self.engine.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(query)}

    def queued_by_queue(self) -> dict[str, int]:
        """Queued jobs per queue name (the task, or ``task.pool``)."""
        query = sa.select(JOBS.c.task, JOBS.c.request).where(JOBS.c.status == "queued")
        found: dict[str, int] = {}
        with self.engine.connect() as conn:
            for task, request in conn.execute(query):
                pool = (request or {}).get("pool")
                name = f"{task}.{pool}" if pool else str(task)
                found[name] = found.get(name, 0) + 1
        return found

    def unfinished_for_owner(self, owner: str) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(JOBS)
            .where(JOBS.c.owner == owner, JOBS.c.status.in_(("queued", "running")))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def queue_position(self, job: JobRecord) -> int:
        """How many queued jobs run before this one (0 = next)."""
        ahead = (
            sa.select(sa.func.count())
            .select_from(JOBS)
            .where(
                JOBS.c.status == "queued",
                sa.or_(
                    JOBS.c.priority > job.priority,
                    sa.and_(
                        JOBS.c.priority == job.priority,
                        sa.or_(
                            JOBS.c.created_at < job.created_at,
                            sa.and_(JOBS.c.created_at == job.created_at, JOBS.c.id < job.id),
                        ),
                    ),
                ),
            )
        )
        with self.engine.connect() as conn:
            return int(conn.execute(ahead).scalar_one())

    def mean_duration(self, task: str, backend: str | None, last: int = 20) -> float | None:
        """Mean run time (start to finish) of the last succeeded jobs of a task and backend."""
        query = (
            sa.select(JOBS.c.finished_at - JOBS.c.started_at)
            .where(JOBS.c.task == task, JOBS.c.status == "succeeded", JOBS.c.started_at.is_not(None))
            .order_by(JOBS.c.finished_at.desc())
            .limit(last)
        )
        if backend:
            query = query.where(JOBS.c.backend == backend)
        with self.engine.connect() as conn:
            values = [float(v) for (v,) in conn.execute(query) if v is not None]
        return sum(values) / len(values) if values else None

    # --- transitions ---------------------------------------------------------------------------

    def next_queued(self, limit: int = 8) -> list[str]:
        query = (
            sa.select(JOBS.c.id)
            .where(JOBS.c.status == "queued")
            .order_by(JOBS.c.priority.desc(), JOBS.c.created_at, JOBS.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [r for (r,) in conn.execute(query)]

    def claim(self, job_id: str, worker: str, lease_s: float) -> tuple[JobRecord, Event] | None:
        """queued -> running for this worker; None when someone else took it or it was canceled."""
        now = time.time()
        with self.engine.begin() as conn:
            done = conn.execute(
                JOBS.update()
                .where(JOBS.c.id == job_id, JOBS.c.status == "queued")
                .values(
                    status="running",
                    attempt=JOBS.c.attempt + 1,
                    worker=worker,
                    lease_until=now + lease_s,
                    started_at=now,
                )
            )
            if done.rowcount != 1:
                return None
            row = conn.execute(JOBS.select().where(JOBS.c.id == job_id)).one()
            record = JobRecord.from_row(row)
            event = self._add_event(
                conn,
                job_id,
                "started",
                {"status": "running", "attempt": record.attempt, "worker": worker},
                now,
                record.webhook_url is not None,
            )
        return record, event

    def heartbeat(self, job_id: str, attempt: int, lease_s: float) -> bool | None:
        """Extend the lease; returns whether a cancel was asked (None: the job is no longer ours)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                JOBS.update()
                .where(JOBS.c.id == job_id, JOBS.c.status == "running", JOBS.c.attempt == attempt)
                .values(lease_until=time.time() + lease_s)
            )
            if done.rowcount != 1:
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
        with self.engine.begin() as conn:
            done = conn.execute(
                JOBS.update()
                .where(JOBS.c.id == job_id, JOBS.c.status == "running", JOBS.c.attempt == attempt)
                .values(progress_step=step, progress_total=total)
            )
            if done.rowcount != 1:
                return None
            return self._add_event(conn, job_id, "progress", data, time.time(), hooked)

    def finish(
        self,
        job_id: str,
        attempt: int,
        status: JobStatus,
        result: dict[str, Any],
        backend: str | None,
        summary: dict[str, Any] | None = None,
        hooked: bool | None = None,
    ) -> Event | None:
        """running -> a terminal status, only for the attempt that holds the job (at most once)."""
        now = time.time()
        with self.engine.begin() as conn:
            done = conn.execute(
                JOBS.update()
                .where(JOBS.c.id == job_id, JOBS.c.status == "running", JOBS.c.attempt == attempt)
                .values(
                    status=str(status),
                    result=result,
                    error=result.get("error"),
                    message=result.get("message"),
                    backend=backend,
                    finished_at=now,
                    lease_until=None,
                )
            )
            if done.rowcount != 1:
                return None
            return self._add_event(
                conn,
                job_id,
                "completed",
                {
                    "status": str(status),
                    "error": result.get("error"),
                    "message": result.get("message"),
                    **(summary or {}),
                },
                now,
                hooked,
            )

    def cancel(self, job_id: str) -> tuple[str, Event | None]:
        """('canceled', event) when it was queued; ('requested', None) when running; else (status, None)."""
        now = time.time()
        with self.engine.begin() as conn:
            done = conn.execute(
                JOBS.update()
                .where(JOBS.c.id == job_id, JOBS.c.status == "queued")
                .values(
                    status="canceled",
                    finished_at=now,
                    error="canceled",
                    message="the job was canceled before it started",
                )
            )
            if done.rowcount == 1:
                data = {"status": "canceled", "error": "canceled", "message": "canceled while queued"}
                return "canceled", self._add_event(conn, job_id, "completed", data, now)
            done = conn.execute(
                JOBS.update()
                .where(JOBS.c.id == job_id, JOBS.c.status == "running")
                .values(cancel_requested=True)
            )
            if done.rowcount == 1:
                return "requested", None
            status = conn.execute(sa.select(JOBS.c.status).where(JOBS.c.id == job_id)).scalar_one_or_none()
        return str(status) if status else "missing", None

    def delete(self, job_id: str) -> bool:
        with self.engine.begin() as conn:
            conn.execute(EVENTS.delete().where(EVENTS.c.job_id == job_id))
            conn.execute(OUTBOX.delete().where(OUTBOX.c.job_id == job_id))
            return bool(conn.execute(JOBS.delete().where(JOBS.c.id == job_id)).rowcount)

    def recover(self, orphaned: list[str], requeue: bool) -> list[Event]:
        """Jobs whose worker died: back to queued (``requeue``) or failed; never left running."""
        events: list[Event] = []
        now = time.time()
        for job_id in orphaned:
            with self.engine.begin() as conn:
                if requeue:
                    values: dict[str, Any] = {"status": "queued", "worker": None, "lease_until": None}
                    values["enqueued_at"] = None  # a queue executor publishes it again
                    values.update(progress_step=None, progress_total=None, started_at=None)
                else:
                    values = {
                        "status": "failed",
                        "error": "interrupted",
                        "message": "the worker running this job stopped; it was not requeued",
                        "finished_at": now,
                        "lease_until": None,
                    }
                done = conn.execute(
                    JOBS.update().where(JOBS.c.id == job_id, JOBS.c.status == "running").values(**values)
                )
                if done.rowcount != 1:
                    continue
                if requeue:
                    data = {"status": "queued", "reason": "the worker running it stopped"}
                    events.append(self._add_event(conn, job_id, "requeued", data, now))
                else:
                    data = {"status": "failed", "error": "interrupted", "message": values["message"]}
                    events.append(self._add_event(conn, job_id, "completed", data, now))
                    conn.execute(
                        JOBS.update()
                        .where(JOBS.c.id == job_id)
                        .values(result={"job_id": job_id, "status": "failed", **data})
                    )
        return events

    # --- queue executors ----------------------------------------------------------------------

    def mark_enqueued(self, job_id: str, published: bool = True) -> None:
        """When the job was last published (None: not published; the reconciler publishes it)."""
        at = time.time() if published else None
        with self.engine.begin() as conn:
            conn.execute(JOBS.update().where(JOBS.c.id == job_id).values(enqueued_at=at))

    def to_publish(self, unpublished_after_s: float, republish_after_s: float, limit: int = 500) -> list[str]:
        """Queued jobs whose message may be missing: never published (the broker was down), or
        published long ago (the message may be lost)."""
        now = time.time()
        query = (
            sa.select(JOBS.c.id)
            .where(
                JOBS.c.status == "queued",
                sa.or_(
                    sa.and_(JOBS.c.enqueued_at.is_(None), JOBS.c.created_at < now - unpublished_after_s),
                    JOBS.c.enqueued_at < now - republish_after_s,
                ),
            )
            .order_by(JOBS.c.priority.desc(), JOBS.c.created_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [r for (r,) in conn.execute(query)]

    def worker_seen(self, name: str, queues: list[str], device: str | None, busy: int) -> None:
        """A worker's heartbeat (upsert)."""
        now = time.time()
        values = {"queues": ",".join(queues), "device": device, "busy": busy, "last_seen": now}
        with self.engine.begin() as conn:
            done = conn.execute(WORKERS.update().where(WORKERS.c.name == name).values(**values))
            if done.rowcount == 0:
                conn.execute(WORKERS.insert().values(name=name, started_at=now, **values))

    def worker_gone(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(WORKERS.delete().where(WORKERS.c.name == name))

    def workers_alive(self, within_s: float) -> list[dict[str, Any]]:
        """Workers whose last heartbeat is at most ``within_s`` old; old rows are removed."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(WORKERS.delete().where(WORKERS.c.last_seen < now - max(within_s, 3600)))
            rows = conn.execute(WORKERS.select().where(WORKERS.c.last_seen >= now - within_s))
            return [dict(r._mapping) for r in rows]

    @contextmanager
    def event_notifications(self) -> Iterator[EventWait]:
        """A ``wait(timeout)`` that returns early when another process writes an event: PostgreSQL
        LISTEN/NOTIFY on a connection of its own; elsewhere (SQLite) it just sleeps (``polling``)."""
        if not self.notifies:
            yield EventWait(None)
            return
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"LISTEN {EVENT_CHANNEL}")
            yield EventWait(conn)

    def events_after(self, after: int, limit: int = 1000) -> list[Event]:
        """Every job's events after an event id (the relay of a queue executor)."""
        query = EVENTS.select().where(EVENTS.c.id > after).order_by(EVENTS.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [
                Event(id=r.id, job_id=r.job_id, type=r.type, data=r.data, at=r.at)
                for r in conn.execute(query)
            ]

    def last_event_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(EVENTS.c.id))).scalar_one() or 0)

    def oldest_running_started_at(self) -> float | None:
        query = sa.select(sa.func.min(JOBS.c.started_at)).where(JOBS.c.status == "running")
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar_one()
        return None if value is None else float(value)

    def running(self) -> list[JobRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(JOBS.select().where(JOBS.c.status == "running"))
            return [JobRecord.from_row(r) for r in rows]

    # --- events --------------------------------------------------------------------------------

    def add_event(self, job_id: str, type_: str, data: dict[str, Any]) -> Event:
        with self.engine.begin() as conn:
            return self._add_event(conn, job_id, type_, data, time.time())

    def _add_event(
        self,
        conn: sa.Connection,
        job_id: str,
        type_: str,
        data: dict[str, Any],
        at: float,
        hooked: bool | None = None,
    ) -> Event:
        """Write an event (and its webhook delivery, when the job has a webhook: ``hooked`` None =
        look it up)."""
        res = conn.execute(EVENTS.insert().values(job_id=job_id, type=type_, data=data, at=at))
        (event_id,) = res.inserted_primary_key or (0,)
        if self.notifies:  # delivered at the commit, to every listening API process
            conn.execute(sa.text(f"NOTIFY {EVENT_CHANNEL}"))
        event = Event(id=int(event_id), job_id=job_id, type=type_, data=data, at=at)
        if hooked is not False:
            self._queue_webhook(conn, event)
        return event

    def _queue_webhook(self, conn: sa.Connection, event: Event) -> None:
        """The event's webhook delivery, in the transaction that writes the event: none is lost."""
        query = sa.select(JOBS.c.webhook_url, JOBS.c.webhook_events, JOBS.c.result).where(
            JOBS.c.id == event.job_id, JOBS.c.webhook_url.is_not(None)
        )
        row = conn.execute(query).first()
        if row is None:
            return
        wanted = {e.strip() for e in (row.webhook_events or DEFAULT_WEBHOOK_EVENTS).split(",")}
        if event.type not in wanted:
            return
        body: dict[str, Any] = {
            "event": event.type,
            "event_id": event.id,
            "job_id": event.job_id,
            "at": iso_time(event.at),
            "data": event.data,
        }
        if event.type == "completed":
            body["result"] = row.result
        conn.execute(
            OUTBOX.insert().values(
                event_id=event.id,
                job_id=event.job_id,
                url=row.webhook_url,
                event_type=event.type,
                body=body,
                attempts=0,
                next_at=event.at,
                state="pending",
            )
        )

    # --- webhook outbox ------------------------------------------------------------------------

    def claim_webhooks(self, lease_s: float, limit: int = 32) -> list[dict[str, Any]]:
        """Due deliveries, each claimed for ``lease_s`` (several API processes share the outbox)."""
        now = time.time()
        earlier = OUTBOX.alias("earlier")
        first_of_job = (  # a job's deliveries go in order: only its oldest pending one is due
            sa.select(sa.func.min(earlier.c.id))
            .where(earlier.c.job_id == OUTBOX.c.job_id, earlier.c.state == "pending")
            .scalar_subquery()
        )
        due = (
            sa.select(OUTBOX.c.id)
            .where(
                OUTBOX.c.id == first_of_job,
                OUTBOX.c.state == "pending",
                OUTBOX.c.next_at <= now,
                sa.or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < now),
            )
            .order_by(OUTBOX.c.id)
            .limit(limit)
        )
        claimed = []
        with self.engine.begin() as conn:
            for (row_id,) in conn.execute(due).all():
                done = conn.execute(
                    OUTBOX.update()
                    .where(
                        OUTBOX.c.id == row_id,
                        sa.or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < now),
                    )
                    .values(claimed_until=now + lease_s)
                )
                if done.rowcount == 1:
                    claimed.append(
                        dict(conn.execute(OUTBOX.select().where(OUTBOX.c.id == row_id)).one()._mapping)
                    )
        return claimed

    def webhook_done(
        self, row_id: int, *, delivered: bool, error: str | None, retry_at: float | None
    ) -> None:
        """After one try: delivered, to be retried at ``retry_at``, or failed for good (``retry_at`` None)."""
        state = "delivered" if delivered else ("pending" if retry_at is not None else "failed")
        with self.engine.begin() as conn:
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id == row_id)
                .values(
                    state=state,
                    attempts=OUTBOX.c.attempts + 1,
                    next_at=retry_at if retry_at is not None else time.time(),
                    claimed_until=None,
                    last_error=error,
                )
            )

    def events(self, job_id: str, after: int = 0, types: tuple[str, ...] | None = None) -> list[Event]:
        query = EVENTS.select().where(EVENTS.c.job_id == job_id, EVENTS.c.id > after)
        if types:
            query = query.where(EVENTS.c.type.in_(types))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(EVENTS.c.id))
            return [Event(id=r.id, job_id=r.job_id, type=r.type, data=r.data, at=r.at) for r in rows]


class EventWait:
    """Sleep until a notification arrives or the timeout passes (see JobStore.event_notifications)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.polling = conn is None

    def __call__(self, timeout: float) -> None:
        if self.conn is None:
            time.sleep(timeout)
            return
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            pass


def _encode_cursor(created: float, job_id: str) -> str:
    """A page's end: the last job's creation time and id (any such pair is a valid position)."""
    return f"{created!r}~{job_id}"  # repr: the exact float, so no job is skipped or repeated


CURSOR_RE = re.compile(r"^(\d{1,12}(?:\.\d{1,17})?)~([A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    match = CURSOR_RE.match(cursor)
    if match is None:
        raise InvalidInput(
            "is not a position in the job list (<created time>~<job id>)",
            argument="cursor",
            value=cursor,
            fix="pass the next_cursor of the previous page, or omit it for the first page",
        )
    return float(match.group(1)), match.group(2)
