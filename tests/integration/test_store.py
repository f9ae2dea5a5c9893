"""The job store on SQLite (WAL) and on PostgreSQL (a schema of its own per run, dropped after)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from genserve.clock import ManualClock
from genserve.config import Settings
from genserve.errors import Conflict, InvalidInput
from genserve.jobs import database
from genserve.jobs.store import CancelOutcome, JobRecord, JobStore, NextClaim, database_url
from genserve.tasks.base import JobStatus

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_available() -> bool:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "sqlite":
        settings = Settings(data_dir=tmp_path / "data", output_dir=tmp_path / "out")
        s = JobStore.from_settings(settings, ManualClock()).open()
        yield s
        s.close()
        return
    if not _pg_available():
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")
    schema = f"gs_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    s = JobStore(f"{PG_URL}?options=-csearch_path%3D{schema}", ManualClock()).open()
    try:
        yield s
    finally:
        s.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _clock(store: JobStore) -> ManualClock:
    assert isinstance(store.clock, ManualClock)
    return store.clock


def _job(job_id: str | None = None, **kw: object) -> JobRecord:
    fields: dict[str, object] = {
        "id": job_id or uuid.uuid4().hex,
        "task": "image-to-video",
        "backend": "camera",
        "status": JobStatus.queued,
        "request": {"params": {"num_frames": 2}, "inputs": {"image": ["image_0.jpg"]}},
        "created_at": time.time(),
    }
    fields.update(kw)
    return JobRecord(**fields)  # type: ignore[arg-type]


def test_sqlite_is_in_wal_mode_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "state", output_dir=tmp_path / "out")
    assert database_url(settings).endswith("state/jobs.db")
    s = JobStore.from_settings(settings).open()
    with s.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0004"
    s.open()  # migrating again is a no-op
    s.close()
    assert (tmp_path / "state" / "jobs.db").is_file()


def test_create_get_and_duplicate_id(store: JobStore) -> None:
    job = _job("build-1", git_commit="abc123", priority=3)
    event = store.create(job)
    assert event.type == "queued" and event.id > 0
    got = store.get("build-1")
    assert got is not None and got.status == JobStatus.queued and got.priority == 3
    assert got.request["params"] == {"num_frames": 2}
    with pytest.raises(Conflict) as info:
        store.create(_job("build-1"))
    assert info.value.argument == "job_id"
    assert store.get("missing") is None


def test_claim_once_and_finish_fenced_by_attempt(store: JobStore) -> None:
    store.create(_job("j1"))
    first = store.claim("j1", "w1", lease_s=30)
    assert first is not None and first[0].attempt == 1 and first[1].type == "started"
    assert store.claim("j1", "w2", lease_s=30) is None  # only one worker gets it
    # a stale attempt cannot finish it; the holder can, exactly once
    assert store.finish("j1", 0, JobStatus.succeeded, {"status": "succeeded"}, "camera") is None
    done = store.finish("j1", 1, JobStatus.succeeded, {"status": "succeeded"}, "camera", {"task": "x"})
    assert done is not None and done.data["task"] == "x"
    assert store.finish("j1", 1, JobStatus.failed, {"status": "failed"}, "camera") is None
    got = store.get("j1")
    assert got is not None and got.status == JobStatus.succeeded and got.finished_at is not None
    assert [e.type for e in store.events("j1")] == ["queued", "started", "completed"]


def test_a_job_created_claimed_is_stored_as_claimed_and_finishes_with_the_job_as_stored(
    store: JobStore,
) -> None:
    """One transaction: the job running for its worker with a lease, its queued and started events;
    nobody else claims it, it is recovered like any claimed job, and its completed event carries
    the job as the store then has it."""
    _clock(store).advance(5)
    running, queued, started = store.create_claimed(_job("c1", owner="alice"), "w1", lease_s=30)
    now = store.clock.now()
    assert (running.status, running.attempt, running.worker) == (JobStatus.running, 1, "w1")
    assert running.lease_until == now + 30 and running.started_at == now
    assert (queued.type, started.type) == ("queued", "started") and queued.id < started.id
    assert started.data == {"status": "running", "attempt": 1, "worker": "w1"}
    assert store.get("c1") == running
    assert store.claim("c1", "w2", lease_s=30) is None
    with pytest.raises(Conflict):
        store.create_claimed(_job("c1"), "w2", lease_s=30)
    done = store.finish("c1", 1, JobStatus.succeeded, {"ok": True}, "camera", running=running)
    assert done is not None and done.record == store.get("c1")
    assert [e.type for e in store.events("c1")] == ["queued", "started", "completed"]
    store.create_claimed(_job("c2"), "gone", lease_s=30)
    assert [e.type for e in store.recover(["c2"], requeue=True)] == ["requeued"]


def test_an_event_written_wakes_a_listening_process_at_its_commit(store: JobStore) -> None:
    """PostgreSQL notifies listeners from the database (a trigger on job_events), whoever writes;
    SQLite has no notifications: a listener polls (it sleeps its whole timeout)."""
    with store.event_notifications() as wait:
        if wait.polling:
            t0 = time.monotonic()
            wait(0.2)
            assert time.monotonic() - t0 >= 0.19
            return
        woken: list[float] = []
        listener = threading.Thread(target=lambda: (wait(5.0), woken.append(time.monotonic())))
        listener.start()
        time.sleep(0.2)  # listening
        t0 = time.monotonic()
        store.create(_job("n1"))
        listener.join(6)
        assert woken and woken[0] - t0 < 2.0  # the commit woke it, not its 5 s timeout
        wait(0.01)  # notifications of one transaction come as one


def test_a_finish_may_claim_the_next_queued_job_in_its_transaction(store: JobStore) -> None:
    t = time.time()
    for i, prio in enumerate([0, 5]):
        store.create(_job(f"n{i}", priority=prio, created_at=t + i))
    first = store.claim(None, "w", lease_s=30)
    assert first is not None and first[0].id == "n1"
    stale = NextClaim("w", 30)
    assert store.finish("n1", 7, JobStatus.succeeded, {}, "camera", then=stale) is None
    assert stale.taken is None  # a finish that did not happen claims nothing
    then = NextClaim("w", 30)
    assert store.finish("n1", 1, JobStatus.succeeded, {}, "camera", then=then) is not None
    assert then.taken is not None and then.taken[0].id == "n0" and then.taken[0].worker == "w"
    assert then.taken[1].type == "started" and then.taken[1].job_id == "n0"
    last = NextClaim("w", 30)
    assert store.finish("n0", 1, JobStatus.succeeded, {}, "camera", then=last) is not None
    assert last.taken is None  # the queue was empty
    assert [e.type for e in store.events("n0")] == ["queued", "started", "completed"]


def test_priority_then_fifo_and_queue_position(store: JobStore) -> None:
    t = time.time()
    for i, prio in enumerate([0, 5, 0, 5]):
        store.create(_job(f"q{i}", priority=prio, created_at=t + i))
    q2 = store.get("q2")
    assert q2 is not None and store.queue_position(q2) == 3
    q1 = store.get("q1")
    assert q1 is not None and store.queue_position(q1) == 0
    assert store.counts() == {"queued": 4}
    # a worker told of no job takes the first queued one, found and claimed in one statement
    taken = [store.claim(None, "w", lease_s=30) for _ in range(5)]
    assert [c[0].id if c else None for c in taken] == ["q1", "q3", "q0", "q2", None]
    assert all(c[1].job_id == c[0].id and c[1].type == "started" for c in taken if c)


def test_cancel_queued_at_once_running_by_request(store: JobStore) -> None:
    store.create(_job("a"))
    store.create(_job("b"))
    outcome, event = store.cancel("a")
    assert outcome is CancelOutcome.CANCELED and event is not None and event.data["status"] == "canceled"
    assert store.claim("a", "w", 30) is None  # a canceled job is never started
    claimed = store.claim("b", "w", 30)
    assert claimed is not None
    assert store.cancel("b") == (CancelOutcome.REQUESTED, None)
    assert store.heartbeat("b", claimed[0].attempt, 30) is True  # the worker learns of it
    assert store.cancel("a") == (CancelOutcome.ALREADY_CANCELED, None)  # again: nothing changes
    assert store.cancel("nope") == (CancelOutcome.MISSING, None)


def test_recover_requeues_or_fails(store: JobStore) -> None:
    for job_id in ("r1", "r2"):
        store.create(_job(job_id))
        assert store.claim(job_id, "deadhost:1:x", 30) is not None
    events = store.recover(["r1"], requeue=True)
    assert [e.type for e in events] == ["requeued"]
    r1 = store.get("r1")
    assert r1 is not None and r1.status == JobStatus.queued and r1.attempt == 1
    again = store.claim("r1", "w2", 30)
    assert again is not None and again[0].attempt == 2
    events = store.recover(["r2"], requeue=False)
    r2 = store.get("r2")
    assert r2 is not None and r2.status == JobStatus.failed and r2.error == "interrupted"
    assert r2.result == {"job_id": "r2", "status": "failed", "error": "interrupted", "message": r2.message}
    assert events[0].type == "completed"
    assert store.recover(["r2"], requeue=True) == []  # only running jobs are recovered


def test_search_filters_and_cursor_pages(store: JobStore) -> None:
    t = time.time()
    for i in range(7):
        store.create(
            _job(f"s{i}", created_at=t + i, git_commit="deadbeef" if i % 2 else "cafe", task="image-to-video")
        )
    store.cancel("s0")
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page, cursor = store.search(limit=3, cursor=cursor)
        seen += [j.id for j in page]
        if cursor is None:
            break
    assert seen == [f"s{i}" for i in reversed(range(7))]  # newest first, each once
    odd, _ = store.search(git_commit="dead")
    assert sorted(j.id for j in odd) == ["s1", "s3", "s5"]
    canceled, _ = store.search(status="canceled")
    assert [j.id for j in canceled] == ["s0"]
    both, _ = store.search(status="queued,canceled", limit=50)
    assert len(both) == 7
    with pytest.raises(InvalidInput) as info:
        store.search(status="done")
    assert info.value.argument == "status"
    with pytest.raises(InvalidInput) as info:
        store.search(cursor="not-a-cursor")
    assert info.value.argument == "cursor"


def test_events_replay_after_an_id_and_delete(store: JobStore) -> None:
    store.create(_job("e1"))
    claimed = store.claim("e1", "w", 30)
    assert claimed is not None
    for step in (1, 2, 3):
        store.progress("e1", 1, step, 3, {"step": step, "total": 3})
    all_events = store.events("e1")
    assert [e.type for e in all_events] == ["queued", "started", "progress", "progress", "progress"]
    later = store.events("e1", after=all_events[2].id)
    assert [e.data["step"] for e in later] == [2, 3]
    assert store.progress("e1", 7, 4, 3, {}) is None  # not the holder's attempt
    got = store.get("e1")
    assert got is not None and (got.progress_step, got.progress_total) == (3, 3)
    assert store.delete("e1") and store.get("e1") is None and store.events("e1") == []


# --- time: the store reads its clock (a ManualClock here, moved by the test) -------------------------


def test_claim_and_heartbeat_set_the_lease_from_the_clock(store: JobStore) -> None:
    clock = _clock(store)
    store.create(_job("l1", created_at=clock.now()))
    t0 = clock.now()
    claimed = store.claim("l1", "w", lease_s=30)
    assert claimed is not None and claimed[0].lease_until == t0 + 30 and claimed[0].started_at == t0
    clock.advance(20)
    assert store.heartbeat("l1", 1, lease_s=30) is False
    (running,) = store.running()
    assert running.lease_until == t0 + 50  # renewed from the heartbeat's time, not the claim's
    clock.advance(25)
    finished = store.finish("l1", 1, JobStatus.succeeded, {"status": "succeeded"}, "camera")
    assert finished is not None and finished.at == t0 + 45
    got = store.get("l1")
    assert got is not None and got.finished_at == t0 + 45 and got.lease_until is None


def test_mean_duration_is_start_to_finish_on_the_clock(store: JobStore) -> None:
    clock = _clock(store)
    for job_id, run_s in (("m1", 10.0), ("m2", 20.0)):
        store.create(_job(job_id, created_at=clock.now()))
        assert store.claim(job_id, "w", lease_s=60) is not None
        clock.advance(run_s)
        assert store.finish(job_id, 1, JobStatus.succeeded, {"status": "succeeded"}, "camera") is not None
    assert store.mean_duration("image-to-video", "camera") == 15.0
    assert store.mean_duration("image-to-video", "other") is None


def test_to_publish_after_the_unpublished_and_republish_delays(store: JobStore) -> None:
    clock = _clock(store)
    store.create(_job("p1", created_at=clock.now()))  # committed, never published (broker down)
    assert store.to_publish(unpublished_after_s=2, republish_after_s=300) == []
    clock.advance(2.5)
    assert store.to_publish(unpublished_after_s=2, republish_after_s=300) == ["p1"]
    store.mark_enqueued("p1")  # published now
    assert store.to_publish(unpublished_after_s=2, republish_after_s=300) == []
    clock.advance(299)
    assert store.to_publish(unpublished_after_s=2, republish_after_s=300) == []
    clock.advance(2)  # its message may be lost: published again
    assert store.to_publish(unpublished_after_s=2, republish_after_s=300) == ["p1"]


def test_workers_alive_by_heartbeat_age(store: JobStore) -> None:
    clock = _clock(store)
    store.workers.seen("a", ["image-to-video"], None, 0)
    clock.advance(5)
    store.workers.seen("b", ["recognize"], "cuda:0", 1)
    assert sorted(w["name"] for w in store.workers.alive(6)) == ["a", "b"]
    clock.advance(2)
    assert [w["name"] for w in store.workers.alive(6)] == ["b"]  # a's heartbeat is 7 s old
    store.workers.seen("a", ["image-to-video"], None, 2)
    (a,) = [w for w in store.workers.alive(6) if w["name"] == "a"]
    assert a["busy"] == 2 and a["last_seen"] == clock.now() and a["started_at"] == clock.now() - 7
    clock.advance(4000)
    assert store.workers.alive(6) == []  # rows older than an hour are removed ...
    assert store.workers.alive(10**6) == []  # ... not only hidden
    store.workers.gone("b")


def test_a_hooked_jobs_transitions_queue_the_deliveries_it_asked_for(store: JobStore) -> None:
    """Claim and finish (one statement each with their event on PostgreSQL) queue the webhook's
    deliveries of the events it names, with the same event ids and data the store keeps."""
    clock = _clock(store)
    hooked = _job(
        "h1",
        created_at=clock.now(),
        webhook_url="http://127.0.0.1:9/hook",
        webhook_events="started,completed",
    )
    store.create(hooked)
    store.create(_job("h2", created_at=clock.now() + 1))  # no webhook: nothing queued for it
    claimed = store.claim(None, "w", lease_s=30)
    assert claimed is not None and claimed[0].id == "h1" and claimed[0].webhook_url is not None
    then = NextClaim("w", 30)
    done = store.finish("h1", 1, JobStatus.succeeded, {"answer": 42}, "camera", hooked=True, then=then)
    assert done is not None and then.taken is not None and then.taken[0].id == "h2"
    store.finish("h2", 1, JobStatus.succeeded, {}, "camera", then=NextClaim("w", 30))
    rows: list[dict[str, object]] = []  # a job's deliveries go one at a time, in order
    while got := store.outbox.claim(lease_s=10):
        rows += got
        for row in got:
            store.outbox.done(row["id"], delivered=True, error=None, retry_at=None)
    assert [(r["job_id"], r["event_type"]) for r in rows] == [("h1", "started"), ("h1", "completed")]
    kept = {e.id: e for e in store.events("h1")}
    for row in rows:
        assert row["body"]["event_id"] in kept
        assert row["body"]["data"] == kept[row["body"]["event_id"]].data
    assert rows[0]["body"]["data"] == {"status": "running", "attempt": 1, "worker": "w"}
    assert rows[1]["body"]["result"] == {"answer": 42}


def test_webhook_claims_lapse_and_retries_wait_on_the_clock(store: JobStore) -> None:
    clock = _clock(store)
    hooked = _job(
        "w1", created_at=clock.now(), webhook_url="http://127.0.0.1:9/hook", webhook_events="queued"
    )
    store.create(hooked)
    (row,) = store.outbox.claim(lease_s=10)
    assert row["event_type"] == "queued" and row["claimed_until"] == clock.now() + 10
    assert store.outbox.claim(lease_s=10) == []  # claimed by the first sender
    clock.advance(11)  # that sender died: its claim lapsed
    (again,) = store.outbox.claim(lease_s=10)
    assert again["id"] == row["id"]
    store.outbox.done(row["id"], delivered=False, error="refused", retry_at=clock.now() + 60)
    clock.advance(30)
    assert store.outbox.claim(lease_s=10) == []
    clock.advance(31)
    (retry,) = store.outbox.claim(lease_s=10)
    assert retry["attempts"] == 1 and retry["last_error"] == "refused"


def test_sqlite_writers_of_one_process_queue_in_genserve_not_in_sqlites_busy_handler(tmp_path: Path) -> None:
    """With SQLite's busy wait turned off, writers on 8 threads at once still all succeed: they take
    turns on the store's lock (SQLite would refuse the second writer with 'database is locked')."""
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    sa.event.listen(store.engine, "connect", lambda conn, _record: conn.execute("PRAGMA busy_timeout=0"))
    store.open()
    errors: list[Exception] = []

    def write(worker: int) -> None:
        try:
            for i in range(25):
                job = _job(f"w{worker}-{i}")
                store.create(job)
                claimed = store.claim(job.id, f"worker-{worker}", 30)
                assert claimed is not None
                store.finish(job.id, claimed[0].attempt, JobStatus.succeeded, {"ok": True}, "noop")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        assert store.count(JobStatus.succeeded) == 200
    finally:
        store.close()


def test_postgresql_connections_idle_a_while_are_checked_before_use(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool pings a connection that sat idle (here: any) before handing it out, so a database
    that dropped it (a restart, a proxy's idle timeout) costs a reconnect, not a failed request."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server to lose the connection")
    monkeypatch.setattr(database, "IDLE_PING_S", 0.0)
    store.create(_job("kept"))
    with store.engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    admin = sa.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()
    found = store.get("kept")  # on the pooled connection the server closed: pinged, replaced
    assert found is not None and found.id == "kept"
