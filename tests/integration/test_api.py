"""The REST API in-process (ASGI): jobs, idempotent PUT, listing, cancel/delete, events, artifacts,
access control, metrics, backends, the synchronous task routes and 200 concurrent submissions."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import svc_backends
from fastapi.testclient import TestClient

from genserve.api import create_app
from genserve.api.logs import JsonFormatter
from genserve.caller import SYSTEM
from genserve.config import Settings
from genserve.media.video import probe_video


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def _image(sample: Path) -> dict[str, tuple[str, bytes, str]]:
    return {"image": ("photo.jpg", sample.read_bytes(), "image/jpeg")}


CAMERA = {"task": "image-to-video", "resolution": "256p", "num_frames": "3", "fps": "6"}


def test_submit_wait_and_download_with_ranges(client: TestClient, sample_image: Path) -> None:
    r = client.post("/v1/jobs", data=CAMERA, files=_image(sample_image), headers={"Prefer": "wait=30"})
    assert r.status_code == 200, r.text
    job = r.json()
    assert (
        job["status"] == "succeeded"
        and job["backend"] == "camera"
        and job["inputs"] == {"image": ["photo.jpg"]}
    )
    assert [h["status"] for h in job["history"]] == ["queued", "running", "succeeded"]
    assert job["result"]["parameters"]["num_frames"] == 3 and job["result"]["timings"]["queue"] >= 0
    whole = client.get(job["artifacts"]["video.mp4"])
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert len(whole.content) == job["result"]["outputs"][0]["bytes"]
    part = client.get(job["artifacts"]["video.mp4"], headers={"Range": "bytes=10-109"})
    assert part.status_code == 206 and part.content == whole.content[10:110]
    assert part.headers["content-range"] == f"bytes 10-109/{len(whole.content)}"
    assert client.get(f"/v1/jobs/{job['id']}/artifacts/nope.mp4").status_code == 404


def test_a_waited_answer_is_the_job_as_stored_without_reading_it_back(
    client: TestClient, sample_image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job ran in this process: its completed event carries the finished job and the wait saw
    its whole history, so the answer is built without a read, and equals what GET reads."""
    svc = client.app.state.service  # type: ignore[attr-defined]
    reads: list[str] = []
    for name in ("get", "events"):
        real = getattr(svc.store, name)
        monkeypatch.setattr(
            svc.store, name, lambda *a, _real=real, _n=name, **k: reads.append(_n) or _real(*a, **k)
        )
    data = {**CAMERA, "backend": "slow", "steps": "3"}
    r = client.post("/v1/jobs", data=data, files=_image(sample_image), headers={"Prefer": "wait=30"})
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    assert reads == []
    stored = client.get(r.headers["location"]).json()
    assert reads == ["get", "events"]
    assert r.json() == stored
    assert [h["status"] for h in stored["history"]] == ["queued", "running", "succeeded"]


def test_submit_without_wait_answers_202_queued(client: TestClient, sample_image: Path) -> None:
    r = client.post("/v1/jobs", data={**CAMERA, "backend": "slow", "steps": "3"}, files=_image(sample_image))
    assert r.status_code == 202 and r.json()["status"] in ("queued", "running")
    assert r.headers["location"] == f"/v1/jobs/{r.json()['id']}"


@pytest.mark.parametrize(
    ("data", "files", "status", "argument"),
    [
        ({**CAMERA, "num_frames": "0"}, True, 422, "num_frames"),
        ({**CAMERA, "colour": "red"}, True, 422, "colour"),
        ({**CAMERA, "task": "dance"}, True, 404, "task"),
        ({k: v for k, v in CAMERA.items() if k != "task"}, True, 422, "task"),
        (CAMERA, False, 422, "image"),
        ({**CAMERA, "backend": "nope"}, True, 404, "backend"),
        ({**CAMERA, "params": "{not json"}, True, 422, "params"),
        ({**CAMERA, "priority": "high"}, True, 422, "priority"),
    ],
)
def test_bad_requests_are_4xx_naming_the_argument(
    client: TestClient, sample_image: Path, data: dict[str, str], files: bool, status: int, argument: str
) -> None:
    r = client.post("/v1/jobs", data=data, files=_image(sample_image) if files else None)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["argument"] == argument and body["message"] and "Traceback" not in r.text
    assert client.get("/v1/jobs").json()["jobs"] == []  # nothing was queued


def test_not_an_image_is_415(client: TestClient) -> None:
    r = client.post("/v1/jobs", data=CAMERA, files={"image": ("x.jpg", b"plain text", "image/jpeg")})
    assert r.status_code == 415 and r.json()["argument"] == "image"


def test_json_body_is_refused_with_the_fix(client: TestClient) -> None:
    r = client.post("/v1/jobs", json={"task": "image-to-video"})
    assert r.status_code == 422 and "multipart" in r.json()["message"]


def test_put_is_idempotent(client: TestClient, sample_image: Path, settings: Settings) -> None:
    data = {"task": "image-to-video", "backend": "noop", "prompt": "count:put"}
    first = client.put(
        "/v1/jobs/ci-build-7", data=data, files=_image(sample_image), headers={"Prefer": "wait=10"}
    )
    assert first.status_code == 200 and first.json()["status"] == "succeeded"  # waited, so 200
    again = client.put("/v1/jobs/ci-build-7", data=data, files=_image(sample_image))
    assert again.status_code == 200 and again.json()["id"] == "ci-build-7"
    other = client.put("/v1/jobs/ci-build-7", data={**data, "prompt": "other"}, files=_image(sample_image))
    assert other.status_code == 409 and other.json()["argument"] == "job_id"
    fresh = client.put("/v1/jobs/ci-build-8", data=data, files=_image(sample_image))
    assert fresh.status_code == 201
    assert client.put("/v1/jobs/bad id!", data=data, files=_image(sample_image)).status_code == 422
    client.get("/v1/jobs/ci-build-8")
    deadline = time.monotonic() + 10
    while client.get("/v1/jobs/ci-build-8").json()["status"] != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert svc_backends.runs(settings.data_dir) == ["count:put", "count:put"]  # build-7 once, build-8 once


def test_list_filters_and_cursor(client: TestClient, sample_image: Path) -> None:
    ids = []
    for i in range(5):
        data = {"task": "image-to-video", "backend": "noop", "git_commit": "abc123" if i < 3 else "fff000"}
        ids.append(
            client.post(
                "/v1/jobs", data=data, files=_image(sample_image), headers={"Prefer": "wait=10"}
            ).json()["id"]
        )
    seen, cursor = [], None
    for _ in range(5):
        page = client.get("/v1/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    by_commit = client.get("/v1/jobs", params={"git_commit": "abc"}).json()["jobs"]
    assert sorted(j["id"] for j in by_commit) == sorted(ids[:3])
    assert len(client.get("/v1/jobs", params={"status": "succeeded", "backend": "noop"}).json()["jobs"]) == 5
    assert client.get("/v1/jobs", params={"status": "running,queued"}).json()["jobs"] == []
    assert client.get("/v1/jobs", params={"status": "bogus"}).status_code == 422
    assert client.get("/v1/jobs", params={"limit": 0}).status_code == 422


def test_cancel_and_delete(client: TestClient, sample_image: Path, settings: Settings) -> None:
    slow = client.post(
        "/v1/jobs", data={**CAMERA, "backend": "slow", "steps": "100"}, files=_image(sample_image)
    ).json()
    assert client.delete(f"/v1/jobs/{slow['id']}").status_code == 409  # not finished
    r = client.post(f"/v1/jobs/{slow['id']}/cancel")
    assert r.status_code in (200, 202)
    done = client.get(f"/v1/jobs/{slow['id']}")
    deadline = time.monotonic() + 10
    while done.json()["status"] != "canceled" and time.monotonic() < deadline:
        time.sleep(0.05)
        done = client.get(f"/v1/jobs/{slow['id']}")
    assert done.json()["status"] == "canceled"
    ok = client.post(
        "/v1/jobs", data=CAMERA, files=_image(sample_image), headers={"Prefer": "wait=30"}
    ).json()
    folder = Path(ok["result"]["outputs"][0]["path"]).parent
    assert folder.is_dir() and (settings.data_dir / "inputs" / ok["id"]).is_dir()
    assert client.post(f"/v1/jobs/{ok['id']}/cancel").status_code == 409
    assert client.delete(f"/v1/jobs/{ok['id']}").status_code == 204
    assert not folder.exists() and not (settings.data_dir / "inputs" / ok["id"]).exists()
    assert client.get(f"/v1/jobs/{ok['id']}").status_code == 404
    assert client.delete(f"/v1/jobs/{ok['id']}").status_code == 404


def _sse(text: str) -> list[dict[str, object]]:
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


def test_events_replay_to_a_late_subscriber_and_resume(client: TestClient, sample_image: Path) -> None:
    data = {**CAMERA, "backend": "slow", "steps": "4"}
    job = client.post("/v1/jobs", data=data, files=_image(sample_image)).json()
    with client.stream("GET", f"/v1/jobs/{job['id']}/events") as stream:  # live, then ends on completed
        live = _sse(stream.read().decode())
    kinds = [e["type"] for e in live]
    assert kinds[0] == "queued" and kinds[1] == "started" and kinds[-1] == "completed"
    progress = [e for e in live if e["type"] == "progress"]
    assert progress[-1]["step"] == 4 and progress[-1]["total"] == 4 and "eta_s" in progress[-1]
    late = _sse(client.get(f"/v1/jobs/{job['id']}/events").text)  # after the end: the full replay
    assert late == live
    resumed = _sse(
        client.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": str(live[1]["id"])}).text
    )
    assert resumed == live[2:]
    assert client.get("/v1/jobs/nope/events").status_code == 404


def test_sync_task_route_gives_the_full_result(client: TestClient, sample_image: Path) -> None:
    r = client.post(
        "/v1/image-to-video", data={"resolution": "256p", "num_frames": "2"}, files=_image(sample_image)
    )
    assert r.status_code == 200 and r.json()["status"] == "succeeded"
    video = client.get(r.json()["outputs"][0]["url"])
    out = Path(r.json()["outputs"][0]["path"])
    assert video.content == out.read_bytes() and probe_video(out).num_frames == 2
    bad = client.post("/v1/image-to-video", data={"fps": "500"}, files=_image(sample_image))
    assert bad.status_code == 422 and bad.json()["argument"] == "fps"


def test_backends_health_and_docs(client: TestClient, sample_image: Path) -> None:
    client.post("/v1/jobs", data=CAMERA, files=_image(sample_image), headers={"Prefer": "wait=30"})
    body = client.get("/v1/backends").json()
    camera = next(b for b in body["backends"] if b["backend"] == "camera")
    assert camera["loaded"] is True and camera["defaults"]["num_frames"] == 16
    assert camera["params_schema"]["properties"]["fps"]["maximum"] == 60
    assert set(body["tasks"]) == {"image-to-video", "talking-head", "recognize"}
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    loaded = {"backend": "camera", "model": "camera-motion", "device": "cpu"}
    assert ready["ready"] and ready["store"] and loaded in ready["executor"]["loaded"]
    assert ready["executor"]["kind"] == "local" and ready["executor"]["workers"] >= 1
    schema = client.get("/openapi.json").json()
    assert {"/v1/jobs", "/v1/jobs/{job_id}/events", "/generate", "/api/v1/recognize"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def test_metrics(client: TestClient, sample_image: Path) -> None:
    client.post("/v1/jobs", data=CAMERA, files=_image(sample_image), headers={"Prefer": "wait=30"})
    client.post("/v1/jobs", data={**CAMERA, "num_frames": "0"}, files=_image(sample_image))
    text = client.get("/metrics").text
    assert 'genserve_jobs_total{backend="camera",status="succeeded",task="image-to-video"} 1.0' in text
    for phase in ("queue", "load", "run", "encode"):
        assert (
            f'genserve_job_phase_seconds_count{{backend="camera",phase="{phase}",task="image-to-video"}} 1.0'
            in text
        )
    assert 'genserve_jobs_by_state{state="queued"} 0.0' in text and "genserve_jobs_in_progress 0.0" in text
    assert 'genserve_http_requests_total{method="POST",route="/v1/jobs",status="422"} 1.0' in text


def test_api_keys_ip_allowlist_and_upload_limit(settings: Settings, sample_image: Path) -> None:
    keyed = settings.model_copy(update={"api_keys": "k1,k2", "max_upload_bytes": 50_000})
    with TestClient(create_app(keyed)) as c:
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200  # probes are open
        r = c.get("/v1/jobs")
        assert (
            r.status_code == 401
            and r.headers["www-authenticate"] == "Bearer"
            and r.json()["error"] == "unauthorized"
        )
        assert c.get("/v1/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/metrics").status_code == 401
        assert c.get("/v1/jobs", headers={"Authorization": "Bearer k2"}).status_code == 200
        assert c.get("/v1/jobs", headers={"X-API-Key": "k1"}).status_code == 200
        big = {"image": ("big.jpg", b"\xff" * 2_000_000, "image/jpeg")}
        r = c.post("/v1/jobs", data=CAMERA, files=big, headers={"Authorization": "Bearer k1"})
        assert r.status_code == 413 and r.json()["argument"] == "upload"
    walled = settings.model_copy(update={"allow_ips": "10.0.0.0/8, 192.168.1.7"})
    with TestClient(create_app(walled)) as c:  # the test client's address is "testclient"
        r = c.get("/v1/jobs")
        assert r.status_code == 403 and "GENSERVE_ALLOW_IPS" in r.json()["message"]
        assert c.get("/healthz").status_code == 200
    with TestClient(
        create_app(settings.model_copy(update={"allow_ips": "127.0.0.1"})), client=("127.0.0.1", 5000)
    ) as c:
        assert c.get("/v1/jobs").status_code == 200


def test_per_key_concurrency_limit_is_429_with_retry_after(settings: Settings, sample_image: Path) -> None:
    limited = settings.model_copy(update={"api_keys": "k1,k2", "max_jobs_per_key": 2})
    with TestClient(create_app(limited)) as c:
        k1 = {"Authorization": "Bearer k1"}
        slow = {**CAMERA, "backend": "slow", "steps": "30"}
        ids = [
            c.post("/v1/jobs", data=slow, files=_image(sample_image), headers=k1).json()["id"]
            for _ in range(2)
        ]
        r = c.post("/v1/jobs", data=slow, files=_image(sample_image), headers=k1)
        assert (
            r.status_code == 429 and int(r.headers["retry-after"]) > 0 and r.json()["error"] == "rate_limited"
        )
        other = c.post(
            "/v1/jobs",
            data={**CAMERA, "backend": "noop"},
            files=_image(sample_image),
            headers={"Authorization": "Bearer k2"},
        )
        assert other.status_code == 202  # the limit is per key
        for job_id in ids:
            c.post(f"/v1/jobs/{job_id}/cancel", headers=k1)


def test_webui_flag_without_the_ui_still_serves_the_api(settings: Settings) -> None:
    with TestClient(create_app(settings, webui=True)) as c:
        assert c.get("/healthz").status_code == 200 and c.get("/v1/backends").status_code == 200


def test_worker_mode_answers_only_health(settings: Settings) -> None:
    with TestClient(create_app(settings, jobs_api=False)) as c:
        assert c.get("/readyz").json()["ready"] is True
        assert c.get("/v1/jobs").status_code == 404 and c.get("/metrics").status_code == 200


def test_job_logs_are_json_lines_with_the_job_fields(client: TestClient, sample_image: Path) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("genserve")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        job = client.post(
            "/v1/jobs", data=CAMERA, files=_image(sample_image), headers={"Prefer": "wait=30"}
        ).json()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    finished = next(x for x in lines if x["event"] == "job finished")
    assert finished["job_id"] == job["id"] and finished["task"] == "image-to-video"
    assert finished["status"] == "succeeded" and finished["backend"] == "camera"
    assert set(finished["timings"]) >= {"queue", "load", "run", "encode"}
    http = next(x for x in lines if x["logger"] == "genserve.http")
    assert http["http_status"] == 200 and http["ms"] > 0


def test_200_concurrent_submissions_all_complete_once(settings: Settings, sample_image: Path) -> None:
    app = create_app(settings.model_copy(update={"workers": 2}))
    service = app.state.service
    image = sample_image.read_bytes()

    async def flood() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as c:

            async def one(i: int) -> httpx.Response:
                data = {"task": "image-to-video", "backend": "noop", "prompt": f"count:{i}"}
                return await c.post("/v1/jobs", data=data, files={"image": ("p.jpg", image, "image/jpeg")})

            return await asyncio.gather(*(one(i) for i in range(200)))

    service.start()
    try:
        t0 = time.monotonic()
        responses = asyncio.run(asyncio.wait_for(flood(), timeout=120))
        assert [r.status_code for r in responses] == [202] * 200
        ids = [r.json()["id"] for r in responses]
        assert len(set(ids)) == 200
        for job_id in ids:
            assert service.wait(job_id, max(1.0, 120 - (time.monotonic() - t0)), SYSTEM).status == "succeeded"
        runs = svc_backends.runs(settings.data_dir)
        assert sorted(runs) == sorted(f"count:{i}" for i in range(200))  # none lost, none twice
        assert service.store.counts() == {"succeeded": 200}
        for job_id in ids[:20]:
            kinds = [e.type for e in service.events(job_id, SYSTEM)]
            assert kinds.count("started") == 1 and kinds.count("completed") == 1
    finally:
        service.stop()
