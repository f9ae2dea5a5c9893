"""The job events in the store: written in the transaction of the change they record (with the
webhook delivery they cause), read back by job or after an id, and announced to other processes
(PostgreSQL NOTIFY; elsewhere readers poll)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from genserve.clock import SYSTEM_CLOCK, Clock
from genserve.jobs.database import begin
from genserve.jobs.events import Event
from genserve.jobs.outbox import WebhookOutbox
from genserve.jobs.schema import EVENTS

# PostgreSQL NOTIFY channel: an event was written (sent by the database, a statement trigger on
# job_events: migration 0004)
EVENT_CHANNEL = "genserve_events"
# NOTE: built once, run with parameters (see genserve.jobs.store)
INSERT_EVENT = EVENTS.insert()
_OF_JOB = (EVENTS.c.job_id == sa.bindparam("job_id"), EVENTS.c.id > sa.bindparam("after"))
OF_JOB = EVENTS.select().where(*_OF_JOB).order_by(EVENTS.c.id)
OF_JOB_TYPED = (
    EVENTS.select()
    .where(*_OF_JOB, EVENTS.c.type.in_(sa.bindparam("types", expanding=True)))
    .order_by(EVENTS.c.id)
)


class EventLog:
    def __init__(self, engine: Engine, outbox: WebhookOutbox, clock: Clock = SYSTEM_CLOCK) -> None:
        self.engine = engine
        self.outbox = outbox
        self.clock = clock
        self.notifies = engine.dialect.name == "postgresql"

    def write(
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
        res = conn.execute(INSERT_EVENT, {"job_id": job_id, "type": type_, "data": data, "at": at})
        (event_id,) = res.inserted_primary_key or (0,)  # PostgreSQL notifies listeners at the commit
        event = Event(id=int(event_id), job_id=job_id, type=type_, data=data, at=at)
        if hooked is not False:
            self.outbox.queue(conn, event)
        return event

    def add(self, job_id: str, type_: str, data: dict[str, Any]) -> Event:
        """An event of its own (no change of the job comes with it), now."""
        with begin(self.engine) as conn:
            return self.write(conn, job_id, type_, data, self.clock.now())

    def of_job(self, job_id: str, after: int = 0, types: tuple[str, ...] | None = None) -> list[Event]:
        query, params = OF_JOB, {"job_id": job_id, "after": after}
        if types:
            query, params["types"] = OF_JOB_TYPED, list(types)
        with self.engine.connect() as conn:
            return [_event(r) for r in conn.execute(query, params)]

    def after(self, after: int, limit: int = 1000) -> list[Event]:
        """Every job's events after an event id (the relay of a queue executor)."""
        query = EVENTS.select().where(EVENTS.c.id > after).order_by(EVENTS.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [_event(r) for r in conn.execute(query)]

    def last_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(EVENTS.c.id))).scalar_one() or 0)

    @contextmanager
    def notifications(self) -> Iterator[EventWait]:
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


def _event(row: Any) -> Event:
    return Event(id=row.id, job_id=row.job_id, type=row.type, data=row.data, at=row.at)


class EventWait:
    """Sleep until a notification arrives or the timeout passes (see EventLog.notifications)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.polling = conn is None

    def __call__(self, timeout: float) -> None:
        if self.conn is None:
            time.sleep(timeout)
            return
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            pass
