"""The workers alive: each queue worker's heartbeat is a row (name, queues, device, busy, last seen)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from genserve.clock import SYSTEM_CLOCK, Clock
from genserve.jobs.database import begin
from genserve.jobs.schema import WORKERS


class WorkerTable:
    def __init__(self, engine: Engine, clock: Clock = SYSTEM_CLOCK) -> None:
        self.engine = engine
        self.clock = clock

    def seen(self, name: str, queues: list[str], device: str | None, busy: int) -> None:
        """A worker's heartbeat (upsert)."""
        now = self.clock.now()
        values = {"queues": ",".join(queues), "device": device, "busy": busy, "last_seen": now}
        with begin(self.engine) as conn:
            done = conn.execute(WORKERS.update().where(WORKERS.c.name == name).values(**values))
            if done.rowcount == 0:
                conn.execute(WORKERS.insert().values(name=name, started_at=now, **values))

    def gone(self, name: str) -> None:
        with begin(self.engine) as conn:
            conn.execute(WORKERS.delete().where(WORKERS.c.name == name))

    def alive(self, within_s: float) -> list[dict[str, Any]]:
        """Workers whose last heartbeat is at most ``within_s`` old; old rows are removed."""
        now = self.clock.now()
        with begin(self.engine) as conn:
            conn.execute(WORKERS.delete().where(WORKERS.c.last_seen < now - max(within_s, 3600)))
            rows = conn.execute(WORKERS.select().where(WORKERS.c.last_seen >= now - within_s))
            return [dict(r._mapping) for r in rows]
