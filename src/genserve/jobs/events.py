"""Job events, and their in-process fan-out: wakes waiters and event streams at once.

An :class:`Event` is one line of a job's record (queued, started, progress, requeued, completed).
The store is the record (every event is written there first, so a late subscriber replays it);
the bus only saves subscribers from polling. Events from another process (a worker elsewhere)
reach subscribers through the store, which they also poll now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from genserve.jobs.record import JobRecord

ALL = "*"
# event types that change a job's status; they make up its history
STATUS_EVENTS = ("queued", "started", "requeued", "completed")


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
    # the job as this event left it, when the process that made the event knows it (a waiter then
    # reads nothing back); in this process only: neither stored nor sent
    record: JobRecord | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The event as the API sends it; ``at`` in ISO 8601 (UTC, microseconds) like every other time."""
        return {"id": self.id, "job_id": self.job_id, "type": self.type, "at": iso_time(self.at), **self.data}


class _Sink:
    def put(self, event: Event) -> None:
        raise NotImplementedError


class _ThreadSink(_Sink):
    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Event] = queue.SimpleQueue()

    def put(self, event: Event) -> None:
        self.queue.put(event)


class AsyncEvents(_Sink):
    """A job's events for a coroutine: queued as they come; the loop is woken for each one, or with
    ``wake`` only for those types (the others wait, in order, until one of them or a timeout)."""

    def __init__(self, wake: tuple[str, ...] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.wake = wake
        self._pending: deque[Event] = deque()
        self._ready = asyncio.Event()

    def put(self, event: Event) -> None:  # on any thread
        self._pending.append(event)
        if self.wake is None or event.type in self.wake:
            with contextlib.suppress(RuntimeError):  # the loop closed: the subscriber is gone
                self.loop.call_soon_threadsafe(self._ready.set)

    async def get(self) -> Event:
        """The next event; waits for one that wakes (use ``asyncio.wait_for`` for a timeout)."""
        while not self._pending:
            self._ready.clear()
            await self._ready.wait()
        return self._pending.popleft()


class EventBus:
    def __init__(self) -> None:
        self._subs: dict[str, set[_Sink]] = defaultdict(set)
        self._lock = threading.Lock()
        self.listeners: list[Any] = []  # callables(event) run for every event (metrics, webhooks)

    def publish(self, event: Event | None) -> None:
        if event is None:
            return
        with self._lock:
            sinks = list(self._subs.get(event.job_id, ())) + list(self._subs.get(ALL, ()))
        for sink in sinks:
            sink.put(event)
        for listener in self.listeners:
            listener(event)

    @contextmanager
    def subscribe(self, job_id: str = ALL) -> Iterator[queue.SimpleQueue[Event]]:
        sink = _ThreadSink()
        self._add(job_id, sink)
        try:
            yield sink.queue
        finally:
            self._remove(job_id, sink)

    @contextmanager
    def subscribe_async(
        self, job_id: str = ALL, wake: tuple[str, ...] | None = None
    ) -> Iterator[AsyncEvents]:
        """Events for a coroutine; ``wake``: the event types that wake it (default: all)."""
        sink = AsyncEvents(wake)
        self._add(job_id, sink)
        try:
            yield sink
        finally:
            self._remove(job_id, sink)

    def _add(self, job_id: str, sink: _Sink) -> None:
        with self._lock:
            self._subs[job_id].add(sink)

    def _remove(self, job_id: str, sink: _Sink) -> None:
        with self._lock:
            self._subs[job_id].discard(sink)
            if not self._subs[job_id]:
                del self._subs[job_id]
