"""Time is a parameter: a job's time limit, a waiter's timeout, queue ETAs and the reconciler's lease
expiry read the service's clock. A ManualClock moved by the test stands for the time passing, so
nothing here sleeps through a limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import svc_backends

from genserve.caller import SYSTEM
from genserve.clock import ManualClock
from genserve.config import Settings
from genserve.jobs import JobRequest, run_job
from genserve.jobs.events import EventBus
from genserve.jobs.runner import BackendCache
from genserve.jobs.store import JobRecord, JobStore
from genserve.service import Service
from genserve.tasks.base import JobStatus


class WatchedClock(ManualClock):
    """A ManualClock that tells when someone has read its monotonic time (a waiter took its deadline)."""

    def __init__(self) -> None:
        super().__init__()
        self.read = threading.Event()

    def monotonic(self) -> float:
        self.read.set()
        return super().monotonic()


_sub = svc_backends.image_submission


@pytest.fixture
def clock() -> WatchedClock:
    return WatchedClock()


@pytest.fixture
def queue_only(settings: Settings, clock: WatchedClock) -> Iterator[Service]:
    """A service that queues jobs and runs none (the test moves them through the store)."""
    svc = Service(settings, run_jobs=False, webhooks=False, clock=clock).start()
    yield svc
    svc.stop()


def test_run_job_stops_past_run_timeout_on_its_clock(settings: Settings, sample_image: Path) -> None:
    clock = ManualClock()
    limited = settings.model_copy(update={"run_timeout_s": 60.0})
    request = JobRequest(
        task="image-to-video",
        inputs={"image": sample_image},
        params={"prompt": "x", "steps": 5},
        backend="slow",
    )
    steps: list[int] = []

    def half_a_minute_per_step(step: int, total: int, message: str | None) -> None:
        steps.append(step)
        clock.advance(31)

    result = run_job(
        request, settings=limited, cache=BackendCache(1), on_progress=half_a_minute_per_step, clock=clock
    )
    assert result.status == JobStatus.failed and result.error == "timeout", result.message
    assert steps == [1, 2]  # 62 s on the clock at the third step's check: over the 60 s limit
    assert result.message is not None and "GENSERVE_RUN_TIMEOUT_S" in result.message


def test_wait_ends_at_its_timeout_on_the_clock(
    queue_only: Service, clock: WatchedClock, sample_image: Path, tmp_path: Path
) -> None:
    job = queue_only.submit(_sub(sample_image, tmp_path))
    got: list[JobRecord] = []
    waiter = threading.Thread(target=lambda: got.append(queue_only.wait(job.id, 30, SYSTEM)), daemon=True)
    clock.read.clear()
    waiter.start()
    assert clock.read.wait(10)  # the waiter has its deadline: 30 s from now on the clock
    clock.advance(29)
    waiter.join(1.5)  # it looks at the clock at least once a second
    assert waiter.is_alive() and got == []
    clock.advance(2)
    waiter.join(5)
    assert not waiter.is_alive()
    assert [r.status for r in got] == [JobStatus.queued]  # the unfinished job, at its timeout


def test_queue_eta_from_run_times_on_the_clock(
    queue_only: Service, clock: WatchedClock, sample_image: Path, tmp_path: Path
) -> None:
    store = queue_only.store
    for run_s in (10.0, 20.0):  # two jobs of the same task and backend ran 10 s and 20 s
        done = queue_only.submit(_sub(sample_image, tmp_path))
        assert store.claim(done.id, "w", lease_s=60) is not None
        clock.advance(run_s)
        assert store.finish(done.id, 1, JobStatus.succeeded, {"status": "succeeded"}, "noop") is not None
    queued = []
    for _ in range(3):  # a second apart: first in, first out
        queued.append(queue_only.submit(_sub(sample_image, tmp_path)))
        clock.advance(1)
    states = [queue_only.state(queue_only.get(j.id, SYSTEM)) for j in queued]
    assert [s.queue_position for s in states] == [0, 1, 2]
    assert [s.eta_s for s in states] == [15.0, 30.0, 45.0]  # mean 15 s each, one worker


def test_reconciler_requeues_on_lease_expiry_and_publishes_on_the_clock(settings: Settings) -> None:
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=12)
    try:
        client.ping()
    except Exception:
        pytest.skip("Redis on 127.0.0.1:6379 is not reachable")
    from genserve.jobs.celery_executor import UNPUBLISHED_AFTER_S, CeleryExecutor

    clock = ManualClock()
    celery = settings.model_copy(update={"executor": "celery", "broker_url": "redis://127.0.0.1:6379/12"})
    store = JobStore.from_settings(celery, clock).open()
    client.flushdb()
    executor = CeleryExecutor(celery, store, EventBus())
    try:
        record = JobRecord(
            id="rec-1", task="image-to-video", status=JobStatus.queued, request={}, created_at=clock.now()
        )
        store.create(record)  # committed; the broker never got it
        assert executor.reconcile() == []  # not yet: the submit may still be publishing it
        clock.advance(UNPUBLISHED_AFTER_S + 0.1)
        assert executor.reconcile() == ["rec-1"]
        published = store.get("rec-1")
        assert published is not None and published.enqueued_at == clock.now()
        assert store.claim("rec-1", "deadhost:1:x", lease_s=30) is not None
        clock.advance(29)  # its worker holds a live lease: left running, not published again
        assert executor.reconcile() == []
        running = store.get("rec-1")
        assert running is not None and running.status == JobStatus.running
        clock.advance(2)  # the lease ran out: requeued and published again at once
        assert executor.reconcile() == ["rec-1"]
        history = [e.type for e in store.events("rec-1")]
        assert history == ["queued", "started", "requeued", "queued"]
    finally:
        executor.stop()
        store.close()
        client.flushdb()
        client.close()


def test_web_sessions_expire_on_the_clock(queue_only: Service, clock: WatchedClock) -> None:
    token = queue_only.sessions.create("key-hash", ttl_s=60)
    assert queue_only.sessions.key_hash(token) == "key-hash"
    clock.advance(59)
    assert queue_only.sessions.key_hash(token) == "key-hash"
    clock.advance(2)
    assert queue_only.sessions.key_hash(token) is None
