"""The service every door calls, in-process on a real SQLite store with the local executor:
refused submissions leave nothing behind, idempotent PUT (same request, same owner), the per-owner
limit on unfinished jobs, tenancy on every read and change, cancel, delete, waiting and events."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import svc_backends

from genserve.caller import SYSTEM, Caller
from genserve.config import Settings
from genserve.errors import Conflict, InvalidInput, NotFound, RateLimited
from genserve.service import Service, Submission, Upload
from genserve.tasks.base import JobStatus

ALICE, BOB = Caller(owner="alice"), Caller(owner="bob")


def _sub(
    sample: Path, tmp: Path, backend: str = "noop", owner: str | None = None, **params: object
) -> Submission:
    """A submission with its own copy of the image (the service moves or deletes uploads)."""
    copy = tmp / f"up-{time.perf_counter_ns()}.jpg"
    shutil.copy(sample, copy)
    return Submission(
        task="image-to-video",
        backend=backend,
        params=dict(params),
        files={"image": [Upload(copy, "in.jpg")]},
        owner=owner,
    )


def _upload(sub: Submission) -> Path:
    path = sub.files["image"][0].path
    assert path is not None
    return path


def _until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    svc = Service(settings).start()
    yield svc
    svc.stop()


def _inputs(settings: Settings) -> list[Path]:
    folder = Path(settings.data_dir) / "inputs"
    return sorted(folder.iterdir()) if folder.is_dir() else []


# --- submit ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "priority", "argument"),
    [({"bogus": 1}, 0, "bogus"), ({"steps": -1}, 0, "steps"), ({}, 101, "priority")],
)
def test_a_refused_submission_stores_no_job_and_keeps_no_file(
    service: Service,
    settings: Settings,
    sample_image: Path,
    tmp_path: Path,
    params: dict[str, object],
    priority: int,
    argument: str,
) -> None:
    sub = _sub(sample_image, tmp_path, **params)
    sub.priority = priority
    with pytest.raises(InvalidInput) as refused:
        service.submit(sub)
    assert refused.value.argument == argument and refused.value.fix
    assert not _upload(sub).exists()  # the spooled upload is gone
    assert _inputs(settings) == []  # nothing moved into the artifact store stays there
    jobs, _ = service.list_jobs(SYSTEM)
    assert jobs == []


def test_put_replays_the_same_request_of_the_same_owner_only(
    service: Service, sample_image: Path, tmp_path: Path
) -> None:
    first, created = service.put("ci-7", _sub(sample_image, tmp_path, owner="alice", prompt="count:ci-7"))
    assert created and first.status == JobStatus.queued
    assert service.wait("ci-7", 10, ALICE).status == JobStatus.succeeded
    again, created = service.put("ci-7", _sub(sample_image, tmp_path, owner="alice", prompt="count:ci-7"))
    assert not created and again.id == "ci-7" and again.status == JobStatus.succeeded
    assert again.created_at == first.created_at

    for conflicting in (
        _sub(sample_image, tmp_path, owner="bob", prompt="count:ci-7"),  # the same request, another tenant
        _sub(sample_image, tmp_path, owner="alice", prompt="count:other"),  # other params
    ):
        with pytest.raises(Conflict) as taken:
            service.put("ci-7", conflicting)
        assert taken.value.argument == "job_id" and "alice" not in taken.value.message
        assert not _upload(conflicting).exists()

    other_bytes = _sub(sample_image, tmp_path, owner="alice", prompt="count:ci-7")
    with _upload(other_bytes).open("ab") as fh:  # the same fields, a different file
        fh.write(b"\0")
    with pytest.raises(Conflict):
        service.put("ci-7", other_bytes)

    service.submit(_sub(sample_image, tmp_path, owner="alice", prompt="count:posted"), job_id="posted-1")
    with pytest.raises(Conflict):  # a job made by POST has no request to compare: its id is taken
        service.put("posted-1", _sub(sample_image, tmp_path, owner="alice", prompt="count:posted"))
    service.wait("posted-1", 10, ALICE)
    assert svc_backends.runs(service.settings.data_dir) == ["count:ci-7", "count:posted"]


def test_concurrent_puts_of_one_request_make_one_job(
    service: Service, sample_image: Path, tmp_path: Path
) -> None:
    subs = [_sub(sample_image, tmp_path, owner="alice", prompt="count:race") for _ in range(6)]
    outcomes: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(subs))

    def put(sub: Submission) -> None:
        start.wait()
        try:
            record, created = service.put("race-1", sub)
            outcomes.append((record.id, created))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(sub,)) for sub in subs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(outcomes) == [("race-1", False)] * 5 + [("race-1", True)]
    assert service.wait("race-1", 10, ALICE).status == JobStatus.succeeded
    time.sleep(0.3)  # a second run, were there one, would have started by now
    assert svc_backends.runs(service.settings.data_dir) == ["count:race"]
    assert not any(_upload(sub).exists() for sub in subs)


def test_the_limit_counts_each_owners_unfinished_jobs(
    settings: Settings, sample_image: Path, tmp_path: Path
) -> None:
    svc = Service(settings.model_copy(update={"max_jobs_per_key": 2})).start()
    try:
        held, _ = svc.put("alice-1", _sub(sample_image, tmp_path, "slow", owner="alice", steps=50))
        svc.submit(_sub(sample_image, tmp_path, "slow", owner="alice", steps=50))
        third = _sub(sample_image, tmp_path, "slow", owner="alice", steps=1)
        with pytest.raises(RateLimited) as limited:
            svc.submit(third)
        assert limited.value.http_status == 429 and limited.value.retry_after > 0  # type: ignore[attr-defined]
        assert not _upload(third).exists()
        # retrying a PUT that was accepted is not a new job: it answers even at the limit
        replay, created = svc.put("alice-1", _sub(sample_image, tmp_path, "slow", owner="alice", steps=50))
        assert not created and replay.id == held.id
        # other owners, and jobs without an owner (the process itself), are not counted against alice
        assert svc.submit(_sub(sample_image, tmp_path, owner="bob")).status == JobStatus.queued
        assert svc.submit(_sub(sample_image, tmp_path)).status == JobStatus.queued
        # a finished job frees its place
        svc.cancel("alice-1", ALICE)
        _until(lambda: svc.get("alice-1", ALICE).status.is_terminal())
        assert svc.submit(_sub(sample_image, tmp_path, owner="alice")).status == JobStatus.queued
        with pytest.raises(RateLimited):
            svc.submit(_sub(sample_image, tmp_path, owner="alice"))
        for job in svc.list_jobs(ALICE)[0]:
            svc.cancel(job.id, ALICE)
    finally:
        svc.stop()


# --- tenancy ---------------------------------------------------------------------------------------


def test_another_tenants_job_is_answered_like_a_missing_one(
    service: Service, sample_image: Path, tmp_path: Path
) -> None:
    job = service.submit(_sub(sample_image, tmp_path, owner="alice"))
    assert service.wait(job.id, 10, ALICE).status == JobStatus.succeeded

    with pytest.raises(NotFound) as missing:
        service.get("no-such-job", BOB)
    reads = {
        "get": lambda: service.get(job.id, BOB),
        "events": lambda: service.events(job.id, BOB),
        "artifact": lambda: service.artifact(job.id, "video.mp4", BOB),
        "wait": lambda: service.wait(job.id, 1, BOB),
        "cancel": lambda: service.cancel(job.id, BOB),
        "delete": lambda: service.delete(job.id, BOB),
        "nobody": lambda: service.get(job.id, Caller()),  # no key at all is no tenant
    }
    for door, read in reads.items():
        with pytest.raises(NotFound) as hidden:
            read()
        answer = {**hidden.value.to_dict(), "message": hidden.value.reason}
        assert answer == {**missing.value.to_dict(), "message": missing.value.reason}, door
        assert "alice" not in hidden.value.message, door
    assert service.get(job.id, ALICE).status == JobStatus.succeeded  # bob's delete did nothing
    assert service.get(job.id, SYSTEM).id == job.id  # an admin sees every job

    theirs = service.submit(_sub(sample_image, tmp_path, owner="bob"))
    assert [j.id for j in service.list_jobs(ALICE)[0]] == [job.id]
    assert [j.id for j in service.list_jobs(BOB)[0]] == [theirs.id]
    assert service.list_jobs(Caller())[0] == []
    assert {j.id for j in service.list_jobs(SYSTEM)[0]} == {job.id, theirs.id}
    service.wait(theirs.id, 10, BOB)


def test_listing_names_a_bad_filter(service: Service) -> None:
    for filters, argument in (
        ({"task": "text-to-speech"}, "task"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"git_commit": "abc\ndef"}, "git_commit"),
    ):
        with pytest.raises(InvalidInput) as refused:
            service.list_jobs(SYSTEM, **filters)
        assert refused.value.argument == argument and refused.value.fix, filters
    with pytest.raises(InvalidInput) as unknown:
        service.list_jobs(SYSTEM, task="text-to-speech")
    assert "image-to-video" in (unknown.value.fix or "") and "recognize" in (unknown.value.fix or "")
    assert service.list_jobs(SYSTEM, limit=500) == ([], None)


# --- cancel and delete -----------------------------------------------------------------------------


def test_cancel_is_idempotent_and_a_finished_job_refuses_it(
    service: Service, sample_image: Path, tmp_path: Path
) -> None:
    blocker = service.submit(_sub(sample_image, tmp_path, "slow", steps=30))
    _until(lambda: service.get(blocker.id, SYSTEM).status == JobStatus.running)
    queued = service.submit(_sub(sample_image, tmp_path, "slow", steps=1, prompt="never"))
    assert service.cancel(queued.id, SYSTEM).status == JobStatus.canceled
    assert service.cancel(queued.id, SYSTEM).status == JobStatus.canceled  # again: the same answer
    completed = [e for e in service.events(queued.id, SYSTEM) if e.type == "completed"]
    assert len(completed) == 1 and completed[0].data["status"] == "canceled"

    service.cancel(blocker.id, SYSTEM)
    assert service.wait(blocker.id, 10, SYSTEM).status == JobStatus.canceled
    assert "never" not in svc_backends.runs(service.settings.data_dir)

    done = service.submit(_sub(sample_image, tmp_path))
    assert service.wait(done.id, 10, SYSTEM).status == JobStatus.succeeded
    with pytest.raises(Conflict) as finished:
        service.cancel(done.id, SYSTEM)
    assert "succeeded" in finished.value.message and "deleted" in (finished.value.fix or "")


def test_delete_refuses_an_unfinished_job_and_removes_a_finished_one(
    service: Service, settings: Settings, sample_image: Path, tmp_path: Path
) -> None:
    slow = service.submit(_sub(sample_image, tmp_path, "slow", steps=30))
    with pytest.raises(Conflict) as unfinished:
        service.delete(slow.id, SYSTEM)
    assert "cancel" in (unfinished.value.fix or "")
    assert service.get(slow.id, SYSTEM).status in (JobStatus.queued, JobStatus.running)
    service.cancel(slow.id, SYSTEM)
    assert service.wait(slow.id, 10, SYSTEM).status == JobStatus.canceled
    service.delete(slow.id, SYSTEM)  # a canceled job is finished too
    assert service.store.events(slow.id) == []
    with pytest.raises(NotFound):
        service.get(slow.id, SYSTEM)
    with pytest.raises(NotFound):
        service.delete(slow.id, SYSTEM)
    assert not (Path(settings.data_dir) / "inputs" / slow.id).exists()


# --- wait and events -------------------------------------------------------------------------------


def test_wait_gives_back_the_unfinished_job_at_its_timeout(
    service: Service, sample_image: Path, tmp_path: Path
) -> None:
    job = service.submit(_sub(sample_image, tmp_path, "slow", steps=50))
    t0 = time.monotonic()
    record = service.wait(job.id, 0.3, SYSTEM)
    waited = time.monotonic() - t0
    assert record.status in (JobStatus.queued, JobStatus.running) and waited >= 0.3
    t0 = time.monotonic()
    record = asyncio.run(service.wait_async(job.id, 0.3, SYSTEM))
    assert record.status in (JobStatus.queued, JobStatus.running) and time.monotonic() - t0 >= 0.3
    service.cancel(job.id, SYSTEM)
    assert service.wait(job.id, 10, SYSTEM).status == JobStatus.canceled


def test_wait_sees_a_job_another_process_finished(
    settings: Settings, sample_image: Path, tmp_path: Path
) -> None:
    """Nothing reaches this service's event bus: it reads the shared store again every second."""
    worker = Service(settings).start()
    door = Service(settings, run_jobs=False, webhooks=False).start()
    try:
        job = door.submit(_sub(sample_image, tmp_path, "slow", steps=3))
        assert door.executor is None
        record = door.wait(job.id, 15, SYSTEM)
        assert record.status == JobStatus.succeeded
        assert asyncio.run(door.wait_async(job.id, 1, SYSTEM)).status == JobStatus.succeeded
    finally:
        door.stop()
        worker.stop()


def test_run_async_waits_up_to_the_job_time_limit(
    settings: Settings, sample_image: Path, tmp_path: Path
) -> None:
    limited = settings.model_copy(update={"run_timeout_s": 0.5, "load_timeout_s": 5.0})
    svc = Service(limited).start()
    try:
        assert svc.job_time_limit == 5.5
        done = asyncio.run(svc.run_async(_sub(sample_image, tmp_path, owner="alice"), ALICE))
        assert done.status == JobStatus.succeeded and done.result is not None
        t0 = time.monotonic()
        late = asyncio.run(svc.run_async(_sub(sample_image, tmp_path, "slow", steps=50), SYSTEM))
        assert late.status == JobStatus.failed and late.error == "timeout"  # the run's own limit
        assert time.monotonic() - t0 < 5.5  # answered when it failed, not at the waiter's limit
        with pytest.raises(NotFound):  # the waiter is the caller: another tenant's job is not read
            asyncio.run(svc.run_async(_sub(sample_image, tmp_path, owner="alice"), BOB))
    finally:
        svc.stop()


def test_events_are_ordered_and_resume_after_an_id(
    service: Service, sample_image: Path, tmp_path: Path
) -> None:
    job = service.submit(_sub(sample_image, tmp_path, "slow", steps=3))
    assert service.wait(job.id, 10, SYSTEM).status == JobStatus.succeeded
    events = service.events(job.id, SYSTEM)
    types = [e.type for e in events]
    assert types[:2] == ["queued", "started"] and types[-1] == "completed"
    assert "progress" in types
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    last_progress = [e for e in events if e.type == "progress"][-1]
    assert last_progress.data["step"] == last_progress.data["total"] == 3
    later = service.events(job.id, SYSTEM, after=events[1].id)
    assert [e.id for e in later] == ids[2:]
    assert service.events(job.id, SYSTEM, after=ids[-1]) == []
