"""The embedded executor: jobs run on threads inside the server.

A job it is told of while nothing else waits is claimed by its id; otherwise it takes the next
queued job from the store (priority, then FIFO), and once a second it looks for jobs nobody told it
of (another process's, a restart's). Every claim is a conditional update, so several processes
sharing one PostgreSQL store never run a job twice, and a restart resumes what was queued. A running
job holds a lease the executor renews; when a worker dies (``kill -9``), its jobs are requeued or
failed (``Settings.requeue_interrupted``) by the next executor that starts or by any live one once
the lease runs out.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from genserve.clock import Clock
from genserve.config import Settings
from genserve.jobs.artifacts import ArtifactStore
from genserve.jobs.events import Event, EventBus
from genserve.jobs.execute import execute_job
from genserve.jobs.executor import Executor, ExecutorState, LoadedModel, heartbeat_interval, worker_name
from genserve.jobs.prepared import PreparedJobs
from genserve.jobs.request import PreparedJob
from genserve.jobs.runner import BackendCache
from genserve.jobs.store import JobRecord, JobStore, NextClaim

log = logging.getLogger("genserve.executor")

_LIVE: set[str] = set()  # executors started in this process and not stopped


def _worker_gone(worker: str | None, me: str) -> bool:
    """True when a running job's worker is a dead process (or an earlier executor) on this host."""
    if not worker:
        return True
    host, _, rest = worker.partition(":")
    pid_text, _, _instance = rest.partition(":")
    if host != socket.gethostname():
        return False
    try:
        pid = int(pid_text)
    except ValueError:
        return True
    if pid == os.getpid():
        return worker != me and worker not in _LIVE
    return not psutil.pid_exists(pid)


class LocalExecutor(Executor):
    reuses_prepared = True

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        artifacts: ArtifactStore,
        bus: EventBus,
        *,
        poll_s: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock or store.clock  # leases and time limits (the store's clock by default)
        self.artifacts = artifacts
        self.bus = bus
        self.poll_s = poll_s
        self.name = worker_name()
        self.cache = BackendCache(settings.backend_cache_size)
        self._wake = threading.Condition()
        self._notified: deque[str] = deque()  # jobs committed as queued since a worker last looked
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, JobRecord] = {}
        self._canceled: set[str] = set()
        self._lock = threading.Lock()
        self.prepared = PreparedJobs()  # jobs as validated at submit: not decoded twice
        self.devices = self._devices()
        # NOTE: a job runs only with one of the workers' slots; a waiting request may take a free
        # one and run its job on its own thread (slot_here), on the CPU
        self._slots = threading.Semaphore(len(self.devices))
        self._runs_here = all(device is None for device in self.devices)

    def _devices(self) -> list[str | None]:
        """One worker per GPU when CUDA is in use; else ``settings.workers`` on the CPU."""
        # NOTE: on Linux a machine without /dev/nvidia* has no CUDA: skip importing torch (seconds)
        no_gpu = sys.platform == "linux" and not any(Path("/dev").glob("nvidia[0-9]*"))
        if self.settings.device in ("auto", "cuda") and not no_gpu:
            from genserve.device import cuda_available

            if cuda_available():
                import torch

                return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        return [None] * self.settings.workers

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        _LIVE.add(self.name)
        self.recover(startup=True)
        for i, device in enumerate(self.devices):
            thread = threading.Thread(
                target=self._work, args=(device,), name=f"genserve-worker-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        keeper = threading.Thread(target=self._keep_leases, name="genserve-leases", daemon=True)
        keeper.start()
        self._threads.append(keeper)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        _LIVE.discard(self.name)
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._drain(deadline)  # jobs run by waiting requests (slot_here)
        with self._lock:
            self._canceled.update(self._running)
        for thread in self._threads:
            thread.join(2.0)
        self._drain(time.monotonic() + 2.0)
        self._threads.clear()
        self.cache.clear()

    def _drain(self, deadline: float) -> None:
        while self._running and time.monotonic() < deadline:
            time.sleep(0.02)

    def notify(self, job_id: str, record: JobRecord | None = None) -> None:
        with self._wake:
            self._notified.append(job_id)
            self._wake.notify()

    def remember(self, job_id: str, prepared: PreparedJob) -> None:
        self.prepared.keep(job_id, prepared)

    @contextmanager
    def slot_here(self) -> Iterator[str | None]:
        """A free worker's slot (none while stopping, or with GPU workers: a job runs on their
        device); the job stored as claimed in the block runs on the calling thread."""
        if not self._runs_here or self._stop.is_set() or not self._slots.acquire(blocking=False):
            yield None
            return
        try:
            yield self.name
        finally:
            self._slots.release()

    def run_claimed(self, record: JobRecord, started: Event, prepared: PreparedJob) -> None:
        self._track(record)
        self._execute(record, started, device=None, prepared=prepared)

    def cancel(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._running:
                self._canceled.add(job_id)

    def describe(self) -> ExecutorState:
        alive = sum(t.is_alive() for t in self._threads if t.name.startswith("genserve-worker"))
        with self._lock:
            busy = len(self._running)
        return ExecutorState(
            kind="local",
            name=self.name,
            alive=alive == len(self.devices) and not self._stop.is_set(),
            workers=len(self.devices),
            busy=busy,
            loaded=tuple(LoadedModel(*entry) for entry in self.cache.loaded()),
        )

    def recover(self, startup: bool = False) -> list[str]:
        """Requeue (or fail) running jobs whose worker is gone or whose lease ran out."""
        now = self.clock.now()
        orphans = [
            r.id
            for r in self.store.running()
            if r.id not in self._running
            and ((startup and _worker_gone(r.worker, self.name)) or (r.lease_until or 0) < now)
        ]
        if not orphans:
            return []
        events = self.store.recover(orphans, requeue=self.settings.requeue_interrupted)
        for event in events:
            log.warning(
                "job %s was interrupted: %s",
                event.job_id,
                "requeued" if event.type == "requeued" else "failed",
            )
            self.bus.publish(event)
            if event.type == "requeued":
                self.bus.publish(self.store.add_event(event.job_id, "queued", {"status": "queued"}))
                self.notify(event.job_id)
        return orphans

    # --- threads -------------------------------------------------------------------------------

    def _work(self, device: str | None) -> None:
        scan = True  # look in the store: at the start, at each poll, and while a backlog lasts
        while not self._stop.is_set():
            with self._wake:
                if not self._notified and not scan and not self._wake.wait(self.poll_s):
                    scan = True  # the poll: jobs nobody told this process of
                told = list(self._notified)
                self._notified.clear()
            if self._stop.is_set():
                break
            # NOTE: the one job told of while nothing else waits is claimed by its id (no scan);
            # several at once, or a backlog, go by the store's order (priority, then FIFO)
            if not (told or scan) or not self._take_slot():
                continue
            try:
                claimed = self._claim(told[0]) if len(told) == 1 and not scan else None
                if claimed is None:
                    claimed = self._claim(None)  # the first queued job, found and claimed at once
                    scan = claimed is not None  # there may be more
                while claimed is not None:
                    # NOTE: under a backlog the next job is claimed with this one's result (one
                    # transaction a job); a job claimed so always runs, even if a stop came meanwhile
                    then = (
                        NextClaim(self.name, self.settings.lease_s)
                        if scan and not self._stop.is_set()
                        else None
                    )
                    self._execute(*claimed, device=device, then=then)
                    claimed = then.taken if then is not None else None
                    if claimed is not None:
                        self._track(claimed[0])
                    else:
                        scan = False  # none was queued
            finally:
                self._slots.release()

    def _take_slot(self) -> bool:
        while not self._stop.is_set():
            if self._slots.acquire(timeout=self.poll_s):
                return True
        return False

    def _execute(
        self,
        record: JobRecord,
        event: Event,
        device: str | None,
        prepared: PreparedJob | None = None,
        then: NextClaim | None = None,
    ) -> None:
        self.bus.publish(event)
        prepared = prepared or self.prepared.take(record.id)
        try:
            execute_job(
                record,
                settings=self.settings,
                store=self.store,
                artifacts=self.artifacts,
                bus=self.bus,
                cache=self.cache,
                is_canceled=lambda jid=record.id: jid in self._canceled,
                device=device,
                prepared=prepared if record.attempt == 1 else None,
                clock=self.clock,
                then=then,
            )
        except Exception:  # the store or the artifact store failed: the lease lapses, it is recovered
            log.exception("job %s: could not be executed", record.id)
        finally:
            with self._lock:
                self._running.pop(record.id, None)
                self._canceled.discard(record.id)
            self.artifacts.release_inputs(record.id)

    def _claim(self, job_id: str | None) -> tuple[JobRecord, Event] | None:
        claimed = self.store.claim(job_id, self.name, self.settings.lease_s)
        if claimed is not None:
            self._track(claimed[0])
        return claimed

    def _track(self, record: JobRecord) -> None:
        """A job this executor now runs (its lease is kept, a cancel reaches it)."""
        with self._lock:
            self._running[record.id] = record

    def _keep_leases(self) -> None:
        interval = heartbeat_interval(self.settings)
        while not self._stop.wait(interval):
            try:
                with self._lock:
                    mine = list(self._running.values())
                for record in mine:
                    canceled = self.store.heartbeat(record.id, record.attempt, self.settings.lease_s)
                    if canceled:
                        with self._lock:
                            self._canceled.add(record.id)
                self.recover()
            except Exception:
                log.exception("lease keeper: store unreachable; retrying")
