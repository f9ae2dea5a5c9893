"""The webhook outbox: each event a job's webhook wants becomes a delivery row, written in the
transaction that writes the event (none is lost); delivery workers claim due rows for a lease and
record each try (see :mod:`genserve.jobs.webhooks`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from genserve.clock import SYSTEM_CLOCK, Clock
from genserve.jobs.database import begin
from genserve.jobs.events import Event, iso_time
from genserve.jobs.schema import JOBS, OUTBOX

DEFAULT_WEBHOOK_EVENTS = "completed"  # the events a webhook gets when it names none


class WebhookOutbox:
    def __init__(self, engine: Engine, clock: Clock = SYSTEM_CLOCK) -> None:
        self.engine = engine
        self.clock = clock

    def queue(self, conn: sa.Connection, event: Event) -> None:
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

    def claim(self, lease_s: float, limit: int = 32) -> list[dict[str, Any]]:
        """Due deliveries, each claimed for ``lease_s`` (several API processes share the outbox)."""
        now = self.clock.now()
        earlier = OUTBOX.alias("earlier")
        first_of_job = (  # a job's deliveries go in order: only its oldest pending one is due
            sa.select(sa.func.min(earlier.c.id))
            .where(earlier.c.job_id == OUTBOX.c.job_id, earlier.c.state == "pending")
            .scalar_subquery()
        )
        free = sa.or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < now)
        due = (
            sa.select(OUTBOX.c.id)
            .where(OUTBOX.c.id == first_of_job, OUTBOX.c.state == "pending", OUTBOX.c.next_at <= now, free)
            .order_by(OUTBOX.c.id)
            .limit(limit)
        )
        claimed = []
        with begin(self.engine) as conn:
            for (row_id,) in conn.execute(due).all():
                done = conn.execute(
                    OUTBOX.update().where(OUTBOX.c.id == row_id, free).values(claimed_until=now + lease_s)
                )
                if done.rowcount == 1:
                    claimed.append(
                        dict(conn.execute(OUTBOX.select().where(OUTBOX.c.id == row_id)).one()._mapping)
                    )
        return claimed

    def done(self, row_id: int, *, delivered: bool, error: str | None, retry_at: float | None) -> None:
        """After one try: delivered, to be retried at ``retry_at``, or failed for good (``retry_at`` None)."""
        state = "delivered" if delivered else ("pending" if retry_at is not None else "failed")
        with begin(self.engine) as conn:
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id == row_id)
                .values(
                    state=state,
                    attempts=OUTBOX.c.attempts + 1,
                    next_at=retry_at if retry_at is not None else self.clock.now(),
                    claimed_until=None,
                    last_error=error,
                )
            )
