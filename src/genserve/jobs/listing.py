"""Reading the jobs table: the job list (filters, newest first, cursor pages), counts, the queue's
order and a job's place in it, the mean run time behind ETAs, and what a reconciler publishes."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from genserve.clock import SYSTEM_CLOCK, Clock
from genserve.errors import InvalidInput
from genserve.jobs.record import JobRecord
from genserve.jobs.schema import JOBS
from genserve.tasks.base import JobStatus

CURSOR_RE = re.compile(r"^(\d{1,12}(?:\.\d{1,17})?)~([A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")


def encode_cursor(created: float, job_id: str) -> str:
    """A page's end: the last job's creation time and id (any such pair is a valid position)."""
    return f"{created!r}~{job_id}"  # repr: the exact float, so no job is skipped or repeated


def decode_cursor(cursor: str) -> tuple[float, str]:
    match = CURSOR_RE.match(cursor)
    if match is None:
        raise InvalidInput(
            "is not a position in the job list (<created time>~<job id>)",
            argument="cursor",
            value=cursor,
            fix="pass the next_cursor of the previous page, or omit it for the first page",
        )
    return float(match.group(1)), match.group(2)


class JobListing:
    def __init__(self, engine: Engine, clock: Clock = SYSTEM_CLOCK) -> None:
        self.engine = engine
        self.clock = clock

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
            created, last_id = decode_cursor(cursor)
            query = query.where(
                sa.or_(
                    JOBS.c.created_at < created, sa.and_(JOBS.c.created_at == created, JOBS.c.id < last_id)
                )
            )
        query = query.order_by(JOBS.c.created_at.desc(), JOBS.c.id.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = [JobRecord.from_row(r) for r in conn.execute(query)]
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more and page else None
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

    def running(self) -> list[JobRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(JOBS.select().where(JOBS.c.status == "running"))
            return [JobRecord.from_row(r) for r in rows]

    def oldest_running_started_at(self) -> float | None:
        query = sa.select(sa.func.min(JOBS.c.started_at)).where(JOBS.c.status == "running")
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar_one()
        return None if value is None else float(value)

    def to_publish(self, unpublished_after_s: float, republish_after_s: float, limit: int = 500) -> list[str]:
        """Queued jobs whose message may be missing: never published (the broker was down), or
        published long ago (the message may be lost)."""
        now = self.clock.now()
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
