"""kill -9 of a real server with jobs queued and running, then a restart on the same store: the
history is intact, every job reaches a terminal state, the interrupted one is requeued or failed."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import svc_backends

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from live_server import LiveServer


def _submit(url: str, sample: Path, prompt: str, steps: int) -> str:
    data = {"task": "image-to-video", "backend": "slow", "prompt": prompt, "steps": str(steps)}
    r = httpx.post(f"{url}/v1/jobs", data=data, files={"image": sample.open("rb")}, timeout=30)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _wait_terminal(url: str, job_id: str, timeout: float = 60) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


@pytest.mark.parametrize("requeue", [True, False])
def test_kill_9_then_restart(tmp_path: Path, sample_image: Path, requeue: bool) -> None:
    env = {"GENSERVE_REQUEUE_INTERRUPTED": str(requeue).lower(), "GENSERVE_WORKERS": "1"}
    first = LiveServer(tmp_path, **env).start()
    try:
        running = _submit(first.url, sample_image, "interrupted", steps=40)
        queued = [_submit(first.url, sample_image, f"queued-{i}", steps=2) for i in range(2)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            job = httpx.get(f"{first.url}/v1/jobs/{running}").json()
            if job["status"] == "running" and (job["progress"] or {}).get("step", 0) >= 2:
                break
            time.sleep(0.05)
        assert job["status"] == "running"
        statuses = [httpx.get(f"{first.url}/v1/jobs/{q}").json()["status"] for q in queued]
        assert statuses == ["queued", "queued"]
    finally:
        first.kill9()
    second = LiveServer(tmp_path, **env).start()
    try:
        done = _wait_terminal(second.url, running)
        others = [_wait_terminal(second.url, q) for q in queued]
        assert [o["status"] for o in others] == ["succeeded", "succeeded"]
        events = [h["event"] for h in done["history"]]
        if requeue:
            assert done["status"] == "succeeded" and done["attempt"] == 2
            assert events == ["queued", "started", "requeued", "queued", "started", "completed"]
        else:
            assert done["status"] == "failed" and done["error"] == "interrupted"
            assert events == ["queued", "started", "completed"]
        runs = svc_backends.runs(tmp_path / "data")
        assert runs.count("queued-0") == 1 and runs.count("queued-1") == 1  # none ran twice
        assert runs.count("interrupted") == (2 if requeue else 1)  # started again only when requeued
        page = httpx.get(f"{second.url}/v1/jobs").json()["jobs"]
        assert len(page) == 3  # history intact, nothing lost
    finally:
        second.stop()


def test_kill_9_while_a_waiting_request_runs_its_job_on_its_own_thread(
    tmp_path: Path, sample_image: Path
) -> None:
    """``Prefer: wait`` with a free worker runs the job on the request's thread: it is committed and
    claimed like any other, so a kill -9 mid-run leaves it to be requeued and finished after a restart."""
    env = {"GENSERVE_REQUEUE_INTERRUPTED": "true", "GENSERVE_WORKERS": "1"}
    first = LiveServer(tmp_path, **env).start()
    answers: list[httpx.Response | Exception] = []

    def wait_for_it() -> None:
        data = {"task": "image-to-video", "backend": "slow", "prompt": "waited", "steps": "40"}
        try:
            answers.append(
                httpx.post(
                    f"{first.url}/v1/jobs",
                    data=data,
                    files={"image": sample_image.open("rb")},
                    headers={"Prefer": "wait=60"},
                    timeout=60,
                )
            )
        except httpx.HTTPError as exc:  # the server is killed under it
            answers.append(exc)

    waiter = threading.Thread(target=wait_for_it)
    try:
        waiter.start()
        deadline = time.monotonic() + 20
        running: list[dict] = []  # type: ignore[type-arg]
        while time.monotonic() < deadline and not running:
            jobs = httpx.get(f"{first.url}/v1/jobs", timeout=10).json()["jobs"]
            running = [
                j for j in jobs if j["status"] == "running" and (j["progress"] or {}).get("step", 0) >= 2
            ]
            time.sleep(0.05)
        assert running, "the waited job never ran"
    finally:
        first.kill9()
        waiter.join(10)
    assert answers and isinstance(answers[0], Exception)  # no answer came: the server died mid-run
    second = LiveServer(tmp_path, **env).start()
    try:
        done = _wait_terminal(second.url, running[0]["id"])
        assert done["status"] == "succeeded" and done["attempt"] == 2
        events = [h["event"] for h in done["history"]]
        assert events == ["queued", "started", "requeued", "queued", "started", "completed"]
        assert svc_backends.runs(tmp_path / "data").count("waited") == 2
    finally:
        second.stop()
