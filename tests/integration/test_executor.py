"""The local executor inside a Service: order, cancel, recovery after a crash, no job run twice."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import svc_backends
from PIL import Image

from genserve.backends.base import Backend
from genserve.caller import SYSTEM
from genserve.clock import ManualClock
from genserve.config import Settings
from genserve.errors import Conflict
from genserve.jobs import prepared as prepared_module
from genserve.jobs.artifacts import artifact_store
from genserve.jobs.events import EventBus
from genserve.jobs.local_executor import LocalExecutor
from genserve.jobs.prepared import PreparedJobs, decoded_bytes
from genserve.jobs.request import PreparedJob
from genserve.jobs.store import JobRecord, JobStore
from genserve.media.audio import AudioClip
from genserve.service import Service
from genserve.tasks import TASKS
from genserve.tasks.base import JobStatus
from genserve.tasks.talking_head import TalkingHeadInputs

_sub = svc_backends.image_submission


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    svc = Service(settings.model_copy(update={"lease_s": 1.0})).start()
    yield svc
    svc.stop()


def test_priority_runs_first_fifo_otherwise(service: Service, sample_image: Path, tmp_path: Path) -> None:
    blocker = service.submit(_sub(sample_image, tmp_path, "slow", steps=5, prompt="block"))
    deadline = time.monotonic() + 10
    while service.get(blocker.id, SYSTEM).status == JobStatus.queued and time.monotonic() < deadline:
        time.sleep(0.01)
    low = service.submit(_sub(sample_image, tmp_path, "slow", steps=1, prompt="low"))
    sub = _sub(sample_image, tmp_path, "slow", steps=1, prompt="high")
    sub.priority = 10
    high = service.submit(sub)
    state = service.state(service.get(low.id, SYSTEM))
    assert state.record.status == JobStatus.queued and state.queue_position == 1  # behind the high one
    for job in (blocker, low, high):
        assert service.wait(job.id, 20, SYSTEM).status == JobStatus.succeeded
    assert svc_backends.runs(service.settings.data_dir) == ["block", "high", "low"]


def test_cancel_queued_and_running(service: Service, sample_image: Path, tmp_path: Path) -> None:
    running = service.submit(_sub(sample_image, tmp_path, "slow", steps=50, prompt="long"))
    queued = service.submit(_sub(sample_image, tmp_path, "slow", steps=1, prompt="never"))
    deadline = time.monotonic() + 10
    while service.get(running.id, SYSTEM).status != JobStatus.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert service.cancel(queued.id, SYSTEM).status == JobStatus.canceled  # at once
    t0 = time.monotonic()
    service.cancel(running.id, SYSTEM)
    done = service.wait(running.id, 10, SYSTEM)
    assert done.status == JobStatus.canceled and done.error == "canceled"
    assert time.monotonic() - t0 < 1.0  # at the next 0.1 s step, not after 5 s
    assert svc_backends.runs(service.settings.data_dir) == ["long"]
    finished = service.submit(_sub(sample_image, tmp_path))
    assert service.wait(finished.id, 10, SYSTEM).status == JobStatus.succeeded
    with pytest.raises(Conflict):
        service.cancel(finished.id, SYSTEM)


def _orphan(service: Service, sample: Path, tmp: Path, worker: str, prompt: str) -> JobRecord:
    """A job left 'running' by a worker that died."""
    service.executor.stop()  # type: ignore[union-attr]
    job = service.submit(_sub(sample, tmp, "noop", prompt=prompt))
    assert service.store.claim(job.id, worker, lease_s=3600) is not None
    return job


@pytest.mark.parametrize("requeue", [True, False])
def test_restart_requeues_or_fails_interrupted_jobs(
    settings: Settings, sample_image: Path, tmp_path: Path, requeue: bool
) -> None:
    first = Service(settings).start()
    # a dead process on this host held it (pid 2**22 + 1 is above Linux's pid_max)
    import socket

    job = _orphan(first, sample_image, tmp_path, f"{socket.gethostname()}:{2**22 + 1}:dead", "count:orphan")
    queued = first.submit(_sub(sample_image, tmp_path, "noop", prompt="count:queued"))
    first.stop()
    second = Service(settings.model_copy(update={"requeue_interrupted": requeue})).start()
    try:
        done = second.wait(job.id, 10, SYSTEM)
        assert second.wait(queued.id, 10, SYSTEM).status == JobStatus.succeeded  # queued work resumes
        history = [e.type for e in second.state(done, history=True).history or []]
        if requeue:
            assert done.status == JobStatus.succeeded and done.attempt == 2
            assert history == ["queued", "started", "requeued", "queued", "started", "completed"]
        else:
            assert done.status == JobStatus.failed and done.error == "interrupted"
            assert history == ["queued", "started", "completed"]
        expected = ["count:queued", "count:orphan"] if requeue else ["count:queued"]
        assert sorted(svc_backends.runs(settings.data_dir)) == sorted(expected)
    finally:
        second.stop()


def _finished(service: Service, job_id: str, within_s: float = 20.0) -> JobRecord:
    """The job once it is finished, waiting at most ``within_s`` real seconds (a ManualClock never
    ends ``Service.wait`` by itself)."""
    deadline = time.monotonic() + within_s
    record = service.get(job_id, SYSTEM)
    while not record.status.is_terminal() and time.monotonic() < deadline:
        time.sleep(0.02)
        record = service.get(job_id, SYSTEM)
    return record


def test_expired_lease_of_another_host_is_recovered(
    settings: Settings, sample_image: Path, tmp_path: Path
) -> None:
    clock = ManualClock()
    svc = Service(settings.model_copy(update={"lease_s": 30.0}), clock=clock).start()
    try:
        job = _orphan(svc, sample_image, tmp_path, "otherhost:1:x", "count:lease")
        svc.store.heartbeat(job.id, 1, 30.0)  # its lease ends in 30 s and nobody renews it
        svc.executor = None
        fresh = Service(svc.settings, store=svc.store, artifacts=svc.artifacts).start()
        executor = fresh.executor
        assert isinstance(executor, LocalExecutor) and executor.clock is clock  # the store's clock
        try:
            clock.advance(29.9)  # another host's job with a live lease is left alone
            assert executor.recover() == [] and fresh.get(job.id, SYSTEM).status == JobStatus.running
            clock.advance(0.2)  # the lease ran out: requeued and run here
            executor.recover()
            done = _finished(fresh, job.id)
            assert done.status == JobStatus.succeeded and done.attempt == 2
        finally:
            executor.stop()
    finally:
        svc.store.close()
    assert svc_backends.runs(settings.data_dir) == ["count:lease"]


def test_a_running_job_fails_at_its_time_limit_on_the_clock(
    settings: Settings, sample_image: Path, tmp_path: Path
) -> None:
    """run_timeout_s is measured on the service's clock: moving it past the limit stops the job at
    its next progress step, as if the time had passed."""
    clock = ManualClock()
    svc = Service(settings.model_copy(update={"run_timeout_s": 60.0}), clock=clock).start()
    try:
        job = svc.submit(_sub(sample_image, tmp_path, "slow", steps=100, prompt="bounded"))
        deadline = time.monotonic() + 20
        while (svc.get(job.id, SYSTEM).progress_step or 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        before = svc.get(job.id, SYSTEM).progress_step or 0
        clock.advance(59)  # within the limit: it goes on, and its next step reports an ETA from the clock
        while (svc.get(job.id, SYSTEM).progress_step or 0) <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        last = svc.store.events(job.id, types=("progress",))[-1].data
        assert last["step"] > before and last["eta_s"] == round(59 / last["step"] * (100 - last["step"]), 3)
        clock.advance(2)
        done = _finished(svc, job.id)
        assert done.status == JobStatus.failed and done.error == "timeout", done
        assert done.message is not None and "time limit" in done.message
        assert (done.progress_step or 0) < 100
    finally:
        svc.stop()


def test_two_executors_on_one_store_never_run_a_job_twice(
    settings: Settings, sample_image: Path, tmp_path: Path
) -> None:
    a = Service(settings).start()
    b = Service(settings).start()
    try:
        jobs = [
            (a if i % 2 else b).submit(_sub(sample_image, tmp_path, "noop", prompt=f"count:{i}"))
            for i in range(40)
        ]
        for job in jobs:
            assert a.wait(job.id, 20, SYSTEM).status == JobStatus.succeeded
        ran = svc_backends.runs(settings.data_dir)
        assert sorted(ran) == sorted(f"count:{i}" for i in range(40))  # each once
        workers = {a.get(j.id, SYSTEM).worker for j in jobs}
        assert len(workers) == 2  # both took work
    finally:
        a.stop()
        b.stop()


def test_a_backlog_is_claimed_with_each_result_in_priority_order(
    settings: Settings, sample_image: Path, tmp_path: Path
) -> None:
    """Jobs queued before the worker starts: it claims the first by itself, and each next one in
    the transaction that records the result of the one before (one transaction a job)."""
    store, artifacts, bus = JobStore.from_settings(settings), artifact_store(settings), EventBus()
    queued_svc = Service(settings, store=store, artifacts=artifacts, bus=bus, run_jobs=False).start()
    jobs = [queued_svc.submit(_sub(sample_image, tmp_path, "noop", prompt=f"b{i}")) for i in range(4)]
    urgent = queued_svc.submit(_sub(sample_image, tmp_path, "noop", prompt="urgent"))
    with store.engine.begin() as conn:  # raised after it was queued: it still goes first
        conn.exec_driver_sql("UPDATE jobs SET priority = 9 WHERE id = ?", (urgent.id,))
    claims: list[str | None] = []
    claim = store.claim

    def counted(job_id: str | None, *args: Any) -> Any:
        claims.append(job_id)
        return claim(job_id, *args)

    store.claim = counted  # type: ignore[method-assign]
    executor = LocalExecutor(settings, store, artifacts, bus, poll_s=60)
    svc = Service(settings, store=store, artifacts=artifacts, bus=bus, executor=executor).start()
    try:
        done = [svc.wait(j.id, 20, SYSTEM) for j in [urgent, *jobs]]
        assert all(d.status == JobStatus.succeeded for d in done)
        order = sorted(done, key=lambda d: d.started_at or 0)
        assert [d.id for d in order] == [urgent.id] + [j.id for j in jobs]
        assert claims == [None]  # one claim of its own; four with the results before them
    finally:
        svc.stop()
        queued_svc.stop()


def test_a_job_it_is_told_of_is_claimed_by_its_id_and_one_step_jobs_write_no_progress(
    settings: Settings, sample_image: Path, tmp_path: Path
) -> None:
    store, artifacts, bus = JobStore.from_settings(settings), artifact_store(settings), EventBus()
    executor = LocalExecutor(settings, store, artifacts, bus, poll_s=60)  # no poll during the test
    scans: list[str] = []  # claims of the first queued job (a scan), not of a job by its id
    claim = store.claim

    def counted(job_id: str | None, *args: Any) -> Any:
        if job_id is None:
            scans.append("scan")
        return claim(job_id, *args)

    store.claim = counted  # type: ignore[method-assign]
    svc = Service(settings, store=store, artifacts=artifacts, bus=bus, executor=executor).start()
    try:
        deadline = time.monotonic() + 10
        while not scans and time.monotonic() < deadline:  # the scan at the start
            time.sleep(0.01)
        one_step = []
        for i in range(4):
            one_step.append(svc.submit(_sub(sample_image, tmp_path, "noop", prompt=f"count:{i}")))
            assert svc.wait(one_step[-1].id, 20, SYSTEM).status == JobStatus.succeeded
        two_steps = svc.submit(_sub(sample_image, tmp_path, "slow", steps=2, prompt="two"))
        assert svc.wait(two_steps.id, 20, SYSTEM).status == JobStatus.succeeded
        assert len(scans) == 1  # each job was claimed by the id it was told of
        kinds = [e.type for e in store.events(one_step[-1].id)]
        assert kinds == ["queued", "started", "completed"]  # step 1 of 1 is what completed says
        progress = [e.data for e in store.events(two_steps.id) if e.type == "progress"]
        assert [(p["step"], p["total"]) for p in progress] == [(1, 2), (2, 2)]
    finally:
        svc.stop()


def test_decoded_inputs_kept_for_the_run_are_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    image = Image.new("RGB", (10, 10))
    clip = AudioClip(samples=np.zeros(100, dtype=np.float32), sample_rate=16000, path=Path("a.wav"))
    inputs = TalkingHeadInputs(image=image, audio=clip)
    assert decoded_bytes(inputs) == 10 * 10 * 3 + 100 * 4
    monkeypatch.setattr(prepared_module, "PREPARED_BYTES", 2 * 700 + 100)
    kept = PreparedJobs()
    spec = TASKS["talking-head"]
    params = spec.params_model.model_construct()
    prepared = [PreparedJob(spec, Backend, params, inputs, []) for _ in range(3)]  # type: ignore[type-abstract]
    for i, job in enumerate(prepared):
        kept.keep(f"job-{i}", job)
    assert kept.take("job-0") is None  # the oldest made room
    assert kept.take("job-2") is prepared[2] and kept.take("job-1") is prepared[1]
    assert kept.bytes == 0


def test_a_wait_that_runs_out_before_the_commit_answers_once_the_job_is_stored(
    service: Service, sample_image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation outlasts the wait; the submitting thread then runs the (long) job itself. The
    answer comes when the job is stored, as it stands, not when the job is done."""
    import genserve.service as service_module

    real_prepare = service_module.prepare

    def slow_prepare(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.6)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(service_module, "prepare", slow_prepare)
    t0 = time.monotonic()
    state = asyncio.run(service.submit_wait(_sub(sample_image, tmp_path, "slow", steps=30), 0.2, SYSTEM))
    answered = time.monotonic() - t0
    assert 0.55 < answered < 2.0  # after the commit (0.6 s), long before the job's 3 s
    assert state.record.status in (JobStatus.queued, JobStatus.running)
    assert service.wait(state.record.id, 20, SYSTEM).status == JobStatus.succeeded


def test_a_waiting_submit_runs_its_job_on_its_own_thread_while_a_worker_is_free(
    service: Service, sample_image: Path, tmp_path: Path
) -> None:
    executor = service.executor
    assert isinstance(executor, LocalExecutor)
    told: list[str] = []
    notify = executor.notify
    executor.notify = lambda job_id, record=None: (told.append(job_id), notify(job_id, record))  # type: ignore[method-assign]
    ran_on: list[str] = []
    execute = executor._execute
    executor._execute = lambda *a, **kw: (ran_on.append(threading.current_thread().name), execute(*a, **kw))  # type: ignore[method-assign]

    async def scenario() -> tuple[JobRecord, JobRecord, JobRecord, float]:
        free = (
            await service.submit_wait(_sub(sample_image, tmp_path, "noop", prompt="free"), 20, SYSTEM)
        ).record
        # the one worker's slot is taken by a long job: the next waiting submit hands its job over
        long = asyncio.ensure_future(
            service.submit_wait(_sub(sample_image, tmp_path, "slow", steps=15, prompt="long"), 0.5, SYSTEM)
        )
        t0 = time.monotonic()
        unfinished = (await long).record  # the wait ran out: answered while the job goes on
        waited = time.monotonic() - t0
        queued = (
            await service.submit_wait(_sub(sample_image, tmp_path, "noop", prompt="after"), 20, SYSTEM)
        ).record
        return free, unfinished, queued, waited

    free, unfinished, queued, waited = asyncio.run(scenario())
    assert free.status == JobStatus.succeeded and free.id not in told  # ran here, no worker told
    assert not unfinished.status.is_terminal() and waited < 1.5
    assert queued.status == JobStatus.succeeded and queued.id in told  # waited for the worker
    assert service.wait(unfinished.id, 20, SYSTEM).status == JobStatus.succeeded
    assert ran_on[0].startswith("genserve-submit") and ran_on[-1].startswith("genserve-worker")
