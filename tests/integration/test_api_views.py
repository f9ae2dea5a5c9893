"""What lives where between the service and the doors: the service returns data (a job's record,
queue position, ETA, events with the queue position, the executor's state, what a cancel did) and
words its fixes for every door; the REST API builds the links and URLs, and names its routes in the
fixes; every door waits for a job through the service."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import svc_backends
from fastapi.testclient import TestClient

from genserve.api import create_app
from genserve.api.views import job_view
from genserve.caller import SYSTEM
from genserve.config import Settings
from genserve.errors import Conflict, NotFound
from genserve.jobs.executor import ExecutorState, LoadedModel
from genserve.service import JobState, Service
from genserve.tasks.base import JobStatus

_sub = svc_backends.image_submission


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    svc = Service(settings.model_copy(update={"workers": 1})).start()
    yield svc
    svc.stop()


def _running(service: Service, job_id: str) -> None:
    deadline = time.monotonic() + 10
    while service.get(job_id, SYSTEM).status == JobStatus.queued and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_service_returns_data_and_the_api_builds_links(
    service: Service, sample_image: Path, tmp_path: Path
) -> None:
    assert not hasattr(service, "view")  # no REST shapes in the service
    blocker = service.submit(_sub(sample_image, tmp_path, "slow", steps=20))
    _running(service, blocker.id)
    queued = service.submit(_sub(sample_image, tmp_path, "noop"))
    state = service.state(service.get(queued.id, SYSTEM), history=True)
    assert isinstance(state, JobState) and state.queue_position == 0
    assert [e.type for e in state.history or []] == ["queued"]
    view = job_view(state, "http://genserve.example/")
    assert view["queue_position"] == 0 and view["status"] == "queued"
    assert view["links"]["self"] == f"http://genserve.example/v1/jobs/{queued.id}"
    assert view["history"][0]["event"] == "queued"
    service.cancel(blocker.id, SYSTEM)
    done = service.wait(queued.id, 20, SYSTEM)
    finished = job_view(service.state(done))
    assert "history" not in finished and "queue_position" not in finished
    assert finished["status"] == "succeeded" and finished["links"]["self"] == f"/v1/jobs/{queued.id}"


def test_a_queued_event_carries_the_queue_position_from_the_service(
    service: Service, sample_image: Path, tmp_path: Path
) -> None:
    blocker = service.submit(_sub(sample_image, tmp_path, "slow", steps=20))
    _running(service, blocker.id)
    first = service.submit(_sub(sample_image, tmp_path, "noop"))
    second = service.submit(_sub(sample_image, tmp_path, "noop"))
    (queued,) = [e for e in service.events(second.id, SYSTEM) if e.type == "queued"]
    assert queued.data["position"] == 1  # behind `first`
    assert "position" not in service.store.events(second.id)[0].data  # the stored event is untouched
    service.cancel(blocker.id, SYSTEM)
    assert service.wait(second.id, 20, SYSTEM).status == JobStatus.succeeded
    assert "position" not in next(e for e in service.events(second.id, SYSTEM) if e.type == "queued").data
    assert service.wait(first.id, 20, SYSTEM).status == JobStatus.succeeded


def test_watch_yields_each_change_and_ends_with_the_finished_job(
    service: Service, sample_image: Path, tmp_path: Path
) -> None:
    job = service.submit(_sub(sample_image, tmp_path, "slow", steps=4))
    states = list(service.watch(job.id, SYSTEM, poll_s=0.05))
    assert states[-1].record.status == JobStatus.succeeded
    steps = [s.record.progress_step or 0 for s in states if s.record.status == JobStatus.running]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # changes only, in order
    cut = list(service.watch(service.submit(_sub(sample_image, tmp_path, "slow", steps=50)).id, SYSTEM, 0.3))
    assert not cut[-1].record.status.is_terminal()  # past its timeout: the job as it stands


def test_executor_state_is_a_dataclass(service: Service, sample_image: Path, tmp_path: Path) -> None:
    job = service.submit(_sub(sample_image, tmp_path, "noop"))
    assert service.wait(job.id, 20, SYSTEM).status == JobStatus.succeeded
    state = service.executor.describe() if service.executor else None
    assert isinstance(state, ExecutorState) and state.kind == "local" and state.alive and state.workers == 1
    assert LoadedModel("noop", None, "cpu") in state.loaded
    assert service.ready()["executor"]["loaded"] == [{"backend": "noop", "model": None, "device": "cpu"}]


def test_cancel_outcomes(service: Service, sample_image: Path, tmp_path: Path) -> None:
    running = service.submit(_sub(sample_image, tmp_path, "slow", steps=50))
    _running(service, running.id)
    queued = service.submit(_sub(sample_image, tmp_path, "noop"))
    assert service.cancel(queued.id, SYSTEM).status == JobStatus.canceled  # at once
    assert service.cancel(queued.id, SYSTEM).status == JobStatus.canceled  # again: the same answer
    assert service.cancel(running.id, SYSTEM).status == JobStatus.running  # asked to stop
    assert service.wait(running.id, 20, SYSTEM).status == JobStatus.canceled
    done = service.submit(_sub(sample_image, tmp_path, "noop"))
    assert service.wait(done.id, 20, SYSTEM).status == JobStatus.succeeded
    with pytest.raises(Conflict, match="the job has succeeded already") as info:
        service.cancel(done.id, SYSTEM)
    assert "/v1" not in info.value.message


def test_service_fixes_name_no_route_and_the_api_names_its_own(
    service: Service, settings: Settings, sample_image: Path, tmp_path: Path
) -> None:
    """The web UI and `genserve batch --local` meet the service's words; a REST client its routes."""
    running = service.submit(_sub(sample_image, tmp_path, "slow", steps=50))
    _running(service, running.id)
    refusals = []
    for call in (
        lambda: service.get("nope", SYSTEM),
        lambda: service.delete(running.id, SYSTEM),
        lambda: service.artifact(running.id, "a/b", SYSTEM),
    ):
        with pytest.raises((NotFound, Conflict)) as info:
            call()
        refusals.append(info.value)
    assert all("/v1" not in e.message and e.fix for e in refusals), [e.message for e in refusals]
    service.cancel(running.id, SYSTEM)
    with TestClient(create_app(settings)) as client:
        missing = client.get("/v1/jobs/nope").json()
        assert missing["fix"] == "GET /v1/jobs lists your jobs"
        slow = {"task": "image-to-video", "backend": "slow", "steps": "50"}
        image = {"image": ("in.jpg", sample_image.read_bytes(), "image/jpeg")}
        job = client.post("/v1/jobs", data=slow, files=image).json()
        busy = client.delete(f"/v1/jobs/{job['id']}")
        assert busy.status_code == 409 and busy.json()["fix"] == "POST /v1/jobs/{id}/cancel first"
        client.post(f"/v1/jobs/{job['id']}/cancel")
        noop = {"task": "image-to-video", "backend": "noop"}
        done = client.post("/v1/jobs", data=noop, files=image, headers={"Prefer": "wait=20"}).json()
        assert done["status"] == "succeeded"
        again = client.post(f"/v1/jobs/{done['id']}/cancel").json()
        assert again["fix"] == "DELETE /v1/jobs/{id} removes a finished job"


def test_the_sse_stream_gives_the_queued_position(settings: Settings, sample_image: Path) -> None:
    image = {"image": ("in.jpg", sample_image.read_bytes(), "image/jpeg")}
    slow = {"task": "image-to-video", "backend": "slow", "steps": "20"}
    with TestClient(create_app(settings.model_copy(update={"workers": 1}))) as client:
        blocker = client.post("/v1/jobs", data=slow, files=image).json()
        deadline = time.monotonic() + 10
        while client.get(f"/v1/jobs/{blocker['id']}").json()["status"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        first = client.post("/v1/jobs", data={**slow, "steps": "1"}, files=image).json()
        job = client.post("/v1/jobs", data={**slow, "steps": "1"}, files=image).json()
        with client.stream("GET", f"/v1/jobs/{job['id']}/events") as stream:  # ends once it completed
            events = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
    assert events[0]["type"] == "queued" and events[0]["position"] == 1  # behind `first`
    assert events[-1]["type"] == "completed" and first["id"] != job["id"]


def test_follow_gives_every_event_until_completed(
    service: Service, sample_image: Path, tmp_path: Path
) -> None:
    """The threads' way to follow a job (a local batch): the same events as the SSE stream."""
    job = service.submit(_sub(sample_image, tmp_path, "slow", steps=3))
    kinds = [e.type for e in service.follow(job.id, SYSTEM)]
    assert kinds[0] == "queued" and kinds[-1] == "completed" and "progress" in kinds
    after = [e.type for e in service.follow(job.id, SYSTEM, after=service.store.events(job.id)[-2].id)]
    assert after == ["completed"]
