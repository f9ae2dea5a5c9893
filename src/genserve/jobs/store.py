"""The job store: jobs, their status history and events, in SQL (SQLite WAL by default, PostgreSQL by URL).

The store is the truth every executor and door shares. Transitions are conditional updates, so a
job is claimed by one worker at a time and finished at most once: ``finish`` is fenced by the
attempt number the claim handed out, and a stale worker's late answer is refused.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
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
)
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

    @classmethod
    def from_row(cls, row: Any) -> JobRecord:
        data = dict(row._mapping)
        data["status"] = JobStatus(data["status"])
        return cls(**data)


@dataclass
class Event:
    id: int
    job_id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "job_id": self.job_id, "type": self.type, "at": self.at, **self.data}


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
                return self._add_event(conn, job.id, "queued", {"status": "queued"}, job.created_at)
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
        self, job_id: str, attempt: int, step: int, total: int, data: dict[str, Any]
    ) -> Event | None:
        with self.engine.begin() as conn:
            done = conn.execute(
                JOBS.update()
                .where(JOBS.c.id == job_id, JOBS.c.status == "running", JOBS.c.attempt == attempt)
                .values(progress_step=step, progress_total=total)
            )
            if done.rowcount != 1:
                return None
            return self._add_event(conn, job_id, "progress", data, time.time())

    def finish(
        self,
        job_id: str,
        attempt: int,
        status: JobStatus,
        result: dict[str, Any],
        backend: str | None,
        summary: dict[str, Any] | None = None,
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
            return bool(conn.execute(JOBS.delete().where(JOBS.c.id == job_id)).rowcount)

    def recover(self, orphaned: list[str], requeue: bool) -> list[Event]:
        """Jobs whose worker died: back to queued (``requeue``) or failed; never left running."""
        events: list[Event] = []
        now = time.time()
        for job_id in orphaned:
            with self.engine.begin() as conn:
                if requeue:
                    values: dict[str, Any] = {"status": "queued", "worker": None, "lease_until": None}
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

    def running(self) -> list[JobRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(JOBS.select().where(JOBS.c.status == "running"))
            return [JobRecord.from_row(r) for r in rows]

    # --- events --------------------------------------------------------------------------------

    def add_event(self, job_id: str, type_: str, data: dict[str, Any]) -> Event:
        with self.engine.begin() as conn:
            return self._add_event(conn, job_id, type_, data, time.time())

    def _add_event(
        self, conn: sa.Connection, job_id: str, type_: str, data: dict[str, Any], at: float
    ) -> Event:
        res = conn.execute(EVENTS.insert().values(job_id=job_id, type=type_, data=data, at=at))
        (event_id,) = res.inserted_primary_key or (0,)
        return Event(id=int(event_id), job_id=job_id, type=type_, data=data, at=at)

    def events(self, job_id: str, after: int = 0, types: tuple[str, ...] | None = None) -> list[Event]:
        query = EVENTS.select().where(EVENTS.c.job_id == job_id, EVENTS.c.id > after)
        if types:
            query = query.where(EVENTS.c.type.in_(types))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(EVENTS.c.id))
            return [Event(id=r.id, job_id=r.job_id, type=r.type, data=r.data, at=r.at) for r in rows]


def _encode_cursor(created: float, job_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created, job_id]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        return float(created), str(job_id)
    except Exception:
        raise InvalidInput(
            "is not a cursor this server handed out",
            argument="cursor",
            value=cursor,
            fix="pass the next_cursor of the previous page, or omit it for the first page",
        ) from None
