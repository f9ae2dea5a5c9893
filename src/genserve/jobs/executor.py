"""Executors run queued jobs. The boundary: jobs by id, state in the store, files in an ArtifactStore.

:class:`~genserve.jobs.local_executor.LocalExecutor` runs jobs on threads inside the server (the
embedded default). A queue executor on other machines (Celery) implements the same interface:
``notify(job_id)`` enqueues the id, its worker calls :func:`genserve.jobs.execute.execute_job`.
"""

from __future__ import annotations

import os
import socket
import uuid
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any

from genserve.config import Settings
from genserve.jobs.artifacts import ArtifactStore
from genserve.jobs.events import Event, EventBus
from genserve.jobs.request import PreparedJob
from genserve.jobs.store import JobRecord, JobStore


@dataclass(frozen=True)
class LoadedModel:
    """A backend warm in an executor's cache: its name, its model and the device it is on."""

    backend: str
    model: str | None
    device: str


@dataclass(frozen=True)
class ExecutorState:
    """What an executor reports of itself (/readyz, /v1/backends, the queue's ETA)."""

    kind: str  # local | celery | none
    alive: bool
    workers: int = 0  # threads (local) or live `genserve worker` processes (celery)
    busy: int = 0
    loaded: tuple[LoadedModel, ...] = ()
    name: str | None = None  # the local executor's worker name
    broker: bool | None = None  # a queue executor: whether its broker answers
    queues: tuple[str, ...] | None = None  # a queue executor: the queues its workers consume

    def to_dict(self) -> dict[str, Any]:
        """As /readyz shows it (the fields a kind has no use for left out)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if v is not None}


class Executor(ABC):
    reuses_prepared = False  # runs jobs in this process, so it can reuse a job validated at submit

    @abstractmethod
    def start(self) -> None:
        """Recover interrupted jobs and start taking queued ones."""

    @abstractmethod
    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; running jobs are asked to cancel after ``timeout``."""

    @abstractmethod
    def notify(self, job_id: str, record: JobRecord | None = None) -> None:
        """A job was committed as queued (called after the commit, never before); ``record`` is the
        job as committed, when the caller has it (saves a read)."""

    @abstractmethod
    def cancel(self, job_id: str) -> None:
        """A running job should stop at its next progress step."""

    @abstractmethod
    def describe(self) -> ExecutorState:
        """State for /readyz and metrics: alive, workers, busy, loaded backends."""

    def remember(self, job_id: str, prepared: PreparedJob) -> None:  # noqa: B027 - optional hook
        """The job as validated at submit; an in-process executor may reuse it (no second decode)."""

    def slot_here(self) -> AbstractContextManager[str | None]:
        """A worker's slot for a job the calling thread stores and runs at once, held until the
        block ends: this executor's worker name to store the job as claimed by (then
        :meth:`run_claimed`), or None when no slot is free (store it as queued and notify)."""
        return nullcontext(None)

    def run_claimed(self, record: JobRecord, started: Event, prepared: PreparedJob) -> None:
        """Run a job stored as claimed in :meth:`slot_here`'s block, on the calling thread."""
        raise NotImplementedError("this executor runs no job on the submitting thread")


def heartbeat_interval(settings: Settings) -> float:
    """How often a worker renews its leases (a third of the lease, at most 5 s)."""
    return max(0.05, min(settings.lease_s / 3, 5.0))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def make_executor(settings: Settings, store: JobStore, artifacts: ArtifactStore, bus: EventBus) -> Executor:
    """The executor ``Settings.executor`` names: threads in this process, or Celery workers."""
    if settings.executor == "celery":
        from genserve.jobs.celery_executor import CeleryExecutor

        return CeleryExecutor(settings, store, bus)
    from genserve.jobs.local_executor import LocalExecutor

    return LocalExecutor(settings, store, artifacts, bus)
