"""A job as it stands and as it changes: its state (queue position, ETA, history), its events, and
every way a door waits for it (the service's methods; each door calls these, none waits its own way).

A waiter reads the record again only when the job completes, or every second when no event comes (a
worker elsewhere may have written it): not once per progress event. A watcher (the web UI's progress
bar) reads it on each event, at most every ``poll_s``, and is told only of changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from genserve.caller import Caller
from genserve.clock import Clock
from genserve.config import Settings
from genserve.errors import NotFound
from genserve.jobs.events import STATUS_EVENTS, AsyncEvents, Event, EventBus
from genserve.jobs.record import JobRecord
from genserve.jobs.request import new_job_id
from genserve.jobs.store import JobStore
from genserve.tasks.base import JobStatus

if TYPE_CHECKING:
    from genserve.jobs.executor import Executor
    from genserve.submission import Submission

COMMIT_POLL_S = 0.05  # a wait that ran out before its job was stored looks for the commit this often
FOLLOW_POLL_S = 1.0  # NOTE: events written by a worker in another process are found by polling the store


@dataclass(frozen=True)
class JobState:
    """A job as the service knows it; the REST views, the web UI and batches are built from it."""

    record: JobRecord
    queue_position: int | None = None  # while queued: the jobs ahead of it
    eta_s: float | None = None  # while queued: seconds until it is done, from recent durations
    history: list[Event] | None = None  # its status changes, when asked for


class Watching:
    """The reading half of :class:`genserve.service.Service` (which provides these attributes)."""

    settings: Settings
    store: JobStore
    clock: Clock  # waits and watches end on it
    bus: EventBus
    executor: Executor | None
    submit_threads: ThreadPoolExecutor  # the threads of waiting submits (they may run their job)

    if TYPE_CHECKING:

        def get(self, job_id: str, caller: Caller) -> JobRecord: ...

        def submit(self, sub: Submission, job_id: str | None = None) -> JobRecord: ...

        def _submit(
            self,
            sub: Submission,
            job_id: str | None,
            idempotent: bool = False,
            committed: Callable[[JobRecord, bool], None] | None = None,
        ) -> tuple[JobRecord, bool]: ...

    # --- state ---------------------------------------------------------------------------------

    def state(self, record: JobRecord, history: bool = False) -> JobState:
        """The job's record with what the store adds: its place in the queue and the ETA while
        queued, and with ``history`` its status changes."""
        position = eta = None
        if record.status == JobStatus.queued:
            position = self.store.queue_position(record)
            eta = self._eta(record, position)
        changes = self.store.events(record.id, types=STATUS_EVENTS) if history else None
        return JobState(record, position, eta, changes)

    def _eta(self, record: JobRecord, position: int) -> float | None:
        mean = self.store.mean_duration(record.task, record.backend)
        if mean is None:
            return None
        workers = self.executor.describe().workers if self.executor is not None else 1
        return round(mean * (position // max(1, workers) + 1), 3)

    def events(self, job_id: str, caller: Caller, after: int = 0) -> list[Event]:
        """The job's events after ``after``; a ``queued`` one carries the job's place in the queue
        (``position``) while it still waits."""
        record = self.get(job_id, caller)
        events = self.store.events(job_id, after)
        if record.status == JobStatus.queued and any(e.type == "queued" for e in events):
            position = self.store.queue_position(record)
            placed = {"position": position}
            events = [replace(e, data={**e.data, **placed}) if e.type == "queued" else e for e in events]
        return events

    # --- wait ----------------------------------------------------------------------------------

    @property
    def job_time_limit(self) -> float:
        """The longest a job may take from start to result: its model load plus its run."""
        return self.settings.run_timeout_s + self.settings.load_timeout_s

    def wait(self, job_id: str, timeout: float, caller: Caller) -> JobRecord:
        """Block until the job is finished or ``timeout`` seconds passed; returns its record."""
        deadline = self.clock.monotonic() + timeout
        with self.bus.subscribe(job_id) as events:
            record = self.get(job_id, caller)
            while not record.status.is_terminal() and (left := deadline - self.clock.monotonic()) > 0:
                try:
                    if events.get(timeout=min(left, 1.0)).type != "completed":
                        continue
                except queue.Empty:
                    pass
                record = self.get(job_id, caller)
            return record

    async def wait_async(self, job_id: str, timeout: float, caller: Caller) -> JobRecord:
        deadline = self.clock.monotonic() + timeout
        with self.bus.subscribe_async(job_id) as events:
            record, _ = await self._until_finished(self.get(job_id, caller), events, deadline, caller)
            return record

    async def submit_wait(self, sub: Submission, timeout: float, caller: Caller) -> JobState:
        """Submit, then wait up to ``timeout`` seconds for the job to finish; returns its state,
        with its history once finished.

        The wait listens from before the job exists, so no read is needed to catch a quick finish,
        and when this process ran the job nothing is read at all: the ``completed`` event carries
        the finished job and the events seen are its whole history. The submitting thread runs the
        job itself when a local worker's slot is free (no hand-off to a worker thread); the waiting
        coroutine is woken only when that thread returns or the job completes (each wake-up of the
        event loop takes the GIL from the thread running the job). A wait that runs out while the
        job runs answers with the job as it stands."""
        deadline = self.clock.monotonic() + timeout
        job_id = new_job_id()
        loop = asyncio.get_running_loop()
        committed: list[JobRecord] = []  # appended on the submitting thread once the job is stored
        with self.bus.subscribe_async(job_id, wake=("completed",)) as events:

            def on_committed(record: JobRecord, here: bool) -> None:  # on the submitting thread
                committed.append(record)
                if here:  # it runs on this thread, whose return wakes the wait: its events need not
                    events.wake = ()

            submit = partial(self._submit, sub, job_id, False, on_committed)
            thread = loop.run_in_executor(self.submit_threads, submit)
            thread.add_done_callback(_retrieved)
            try:
                left = max(0.0, deadline - self.clock.monotonic())
                record = (await asyncio.wait_for(asyncio.shield(thread), left))[0]
            except TimeoutError:  # still validating (its commit or refusal comes next), or running here
                while not committed and not thread.done():  # the thread may go on to run the job
                    await asyncio.wait((thread,), timeout=COMMIT_POLL_S)
                record = self.get(job_id, caller) if committed else thread.result()[0]
            record, history = await self._until_finished(record, events, deadline, caller, whole=True)
        if history is not None:
            return JobState(record, history=history)
        return self.state(record, history=record.status.is_terminal())

    async def _until_finished(
        self,
        record: JobRecord,
        events: AsyncEvents,
        deadline: float,
        caller: Caller,
        whole: bool = False,
    ) -> tuple[JobRecord, list[Event] | None]:
        """The job once finished (or at the deadline), and its history when the events seen were
        all of it (``whole``: listened from before the job existed) and the last one carried the
        finished job; else None."""
        seen: list[Event] = []
        while not record.status.is_terminal() and (left := deadline - self.clock.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(events.get(), timeout=min(left, 1.0))
            except TimeoutError:
                record = self.get(record.id, caller)  # a worker elsewhere may have finished it
                continue
            if event.type in STATUS_EVENTS:
                seen.append(event)
            if event.type != "completed":
                continue
            if whole and event.record is not None and caller.sees(event.record.owner):
                return event.record, seen
            record = self.get(record.id, caller)  # NotFound when it is another tenant's job
        return record, None

    async def run_async(self, sub: Submission, caller: Caller) -> JobRecord:
        """Submit and wait for the result, up to the job's time limit (the synchronous routes)."""
        return (await self.submit_wait(sub, self.job_time_limit, caller)).record

    def watch(
        self, job_id: str, caller: Caller, timeout: float | None = None, poll_s: float = 0.25
    ) -> Iterator[JobState]:
        """The job's state each time its status, progress step or queue position changes, until it
        has finished or ``timeout`` (default: the job's time limit) passed; the last one yielded is
        the job as it stands then."""
        deadline = self.clock.monotonic() + (self.job_time_limit if timeout is None else timeout)
        last: tuple[object, ...] | None = None
        with self.bus.subscribe(job_id) as events:
            while True:
                state = self.state(self.get(job_id, caller))
                record = state.record
                if record.status.is_terminal() or self.clock.monotonic() > deadline:
                    yield state
                    return
                shown = (record.status, record.progress_step, record.progress_total, state.queue_position)
                if shown != last:
                    last = shown
                    yield state
                with contextlib.suppress(queue.Empty):
                    events.get(timeout=poll_s)

    def follow(
        self, job_id: str, caller: Caller, after: int = 0, poll_s: float = FOLLOW_POLL_S
    ) -> Iterator[Event]:
        """The job's events after ``after`` (see :meth:`events`), past ones first, then as they come,
        until ``completed`` (for threads: a local batch follows its jobs with it)."""
        seen = after
        with self.bus.subscribe(job_id) as live:
            while True:
                for event in self.events(job_id, caller, seen):
                    seen = event.id
                    yield event
                    if event.type == "completed":
                        return
                with contextlib.suppress(queue.Empty):
                    live.get(timeout=poll_s)

    async def follow_async(
        self, job_id: str, caller: Caller, after: int = 0, poll_s: float = FOLLOW_POLL_S
    ) -> AsyncIterator[Event | None]:
        """The job's events after ``after`` (see :meth:`events`), past ones first, then as they
        come, until ``completed``; ``None`` after each ``poll_s`` without one (a door's cue for a
        keep-alive). Ends when the job is deleted, or has finished and every event was given."""
        seen, finished = after, False
        with self.bus.subscribe_async(job_id) as live:
            while True:
                try:
                    events = await asyncio.to_thread(self.events, job_id, caller, seen)
                except NotFound:
                    return  # deleted
                for event in events:
                    seen = event.id
                    yield event
                    if event.type == "completed":
                        return
                if not events:
                    if finished:
                        return  # finished, and every event after ``after`` was given
                    # NOTE: the status is read after the events: a job that finished in between is
                    # read again, so its `completed` event is never skipped
                    record = await asyncio.to_thread(self.store.get, job_id)
                    finished = record is None or record.status.is_terminal()
                    if finished:
                        continue
                try:
                    await asyncio.wait_for(live.get(), timeout=poll_s)
                except TimeoutError:
                    yield None


def _retrieved(task: asyncio.Future[Any]) -> None:
    """A submit that failed before its commit is raised to its waiter; after it, run_here has logged it."""
    if not task.cancelled():
        task.exception()
