"""The API side of the Celery executor: publish job ids after the commit, relay workers' events,
and reconcile what the broker may have lost. No job runs in this process.

- ``notify``: publishes the id to the job's queue (task name, or ``task.pool``) with its priority,
  then records when. A broker that is down does not fail the submission: the job stays queued and
  unpublished, and the reconciler publishes it once the broker answers.
- The relay reads the store's new events (every job's, by event id) and publishes them on this
  process's bus, so SSE streams, ``Prefer: wait``, the web UI and webhooks see a remote worker's
  progress within ``RELAY_POLL_S``.
- The reconciler requeues jobs whose lease ran out (their worker died) and republishes queued jobs
  never published or published ``republish_after_s`` ago. A duplicate message is harmless: the
  worker's claim is fenced in the store.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

from genserve.clock import Clock
from genserve.config import Settings
from genserve.jobs.celery_app import TASK_NAME, broker_priority, make_celery, make_queue, queue_name
from genserve.jobs.events import EventBus
from genserve.jobs.executor import Executor, ExecutorState, heartbeat_interval
from genserve.jobs.store import JobRecord, JobStore

log = logging.getLogger("genserve.celery")

RELAY_POLL_S = 0.2  # NOTE: without notifications, a worker's events reach this process within 0.2 s
RELAY_LISTEN_S = 1.0  # with PostgreSQL's notifications: at once, and a read every second regardless
RECONCILE_S = 5.0
UNPUBLISHED_AFTER_S = 2.0
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1.0}


class CeleryExecutor(Executor):
    def __init__(
        self, settings: Settings, store: JobStore, bus: EventBus, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock or store.clock  # lease expiry (the store's clock by default)
        self.bus = bus
        self.app = make_celery(settings)
        self._queues: dict[str, Any] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_event = 0
        self.broker_ok = True

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._last_event = self.store.last_event_id()
        for target, name in ((self._relay, "genserve-relay"), (self._reconcile, "genserve-reconciler")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        self.app.close()

    # --- publishing ----------------------------------------------------------------------------

    def notify(self, job_id: str, record: JobRecord | None = None) -> None:
        """Publish a job just committed (marked published at its commit: one write less per job);
        when the broker refuses it, mark it unpublished for the reconciler."""
        record = record or self.store.get(job_id)
        if record is not None and record.status == "queued" and not self.publish(record):
            self.store.mark_enqueued(job_id, published=False)

    def publish(self, record: JobRecord) -> bool:
        name = queue_name(record.task, record.request.get("pool"))
        queue = self._queues.get(name) or self._queues.setdefault(name, make_queue(name))
        try:
            self.app.send_task(
                TASK_NAME,
                args=[record.id],
                queue=queue,
                priority=broker_priority(record.priority),
                retry=True,
                retry_policy=PUBLISH_RETRY,
            )
        except Exception as exc:  # the broker is down: the reconciler publishes it later
            self.broker_ok = False
            log.warning("job %s: not published (%s); it stays queued and is published later", record.id, exc)
            return False
        self.broker_ok = True
        return True

    def cancel(self, job_id: str) -> None:
        """Nothing to do here: the worker reads the cancel request from the store at its next heartbeat."""

    def describe(self) -> ExecutorState:
        workers = self.store.workers.alive(3 * heartbeat_interval(self.settings))
        return ExecutorState(
            kind="celery",
            alive=all(t.is_alive() for t in self._threads) and not self._stop.is_set(),
            broker=self.broker_ok,
            workers=len(workers),
            busy=sum(int(w["busy"]) for w in workers),
            queues=tuple(sorted({q for w in workers for q in str(w["queues"]).split(",")})),
        )

    # --- threads -------------------------------------------------------------------------------

    def _relay(self) -> None:
        """Wake on the store's notifications (PostgreSQL LISTEN) or every RELAY_POLL_S (SQLite, or
        while the listening connection is down), then publish every event written since."""
        while not self._stop.is_set():
            try:
                with self.store.event_notifications() as wait:
                    while not self._stop.is_set():
                        self._relay_new()
                        wait(RELAY_POLL_S if wait.polling else RELAY_LISTEN_S)
            except Exception:
                log.exception("event relay: store unreachable; retrying")
                self._stop.wait(RELAY_POLL_S)

    def _relay_new(self) -> None:
        while True:
            events = self.store.events_after(self._last_event)
            for event in events:
                self._last_event = event.id
                self.bus.publish(dataclasses.replace(event, relayed=True))
            if len(events) < 1000:
                return

    def _reconcile(self) -> None:
        while not self._stop.wait(RECONCILE_S):
            try:
                self.reconcile()
            except Exception:
                log.exception("reconciler: store unreachable; retrying")

    def reconcile(self) -> list[str]:
        """Requeue jobs whose lease ran out; publish queued jobs whose message may be missing."""
        now = self.clock.now()
        expired = [r.id for r in self.store.running() if (r.lease_until or 0) < now]
        for event in self.store.recover(expired, requeue=self.settings.requeue_interrupted):
            log.warning("job %s: its worker stopped; %s", event.job_id, event.type)
            if event.type == "requeued":
                self.store.add_event(event.job_id, "queued", {"status": "queued"})
        published = []
        for job_id in self.store.to_publish(UNPUBLISHED_AFTER_S, self.settings.republish_after_s):
            record = self.store.get(job_id)
            if record is not None and record.status == "queued" and self.publish(record):
                self.store.mark_enqueued(job_id)
                published.append(job_id)
        return published
