"""``genserve.Client`` against a real ``genserve serve`` process on loopback: submit, idempotent PUT,
wait (following the event stream), download (following the redirect to object storage), and the
server's error bodies raised again as genserve's own exceptions."""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from genserve.client import Client
from genserve.config import Settings
from genserve.errors import (
    Conflict,
    GenserveError,
    InvalidInput,
    JobTimeout,
    MediaError,
    NotFound,
    ServerUnreachable,
    Unauthorized,
)
from s3_server import S3Server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from live_server import LiveServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CAMERA = {"resolution": "256p", "num_frames": 3, "fps": 6}
KEYS = "key-one,key-two"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("client-server"), GENSERVE_API_KEYS=KEYS).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, api_key="key-one", settings=Settings()) as c:
        yield c


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_submit_wait_and_download(client: Client, sample_image: Path, tmp_path: Path) -> None:
    job = client.submit(
        "image-to-video",
        {"image": sample_image},
        {**CAMERA, "prompt": "slow zoom in"},
        git={"commit": "0123abc", "branch": "main"},
    )
    assert job["status"] == "queued" and job["inputs"] == {"image": [sample_image.name]}
    seen: list[dict[str, Any]] = []
    done = client.wait(job["id"], timeout=120, on_event=seen.append)
    assert done["status"] == "succeeded" and done["git_commit"] == "0123abc"
    types = [e["type"] for e in seen]
    assert types[0] == "queued" and types[-1] == "completed" and "started" in types
    ids = [int(e["id"]) for e in seen]
    assert ids == sorted(ids)

    saved = client.download(done, tmp_path / "out")
    assert [p.name for p in saved] == ["video.mp4"]
    whole = client.http.get(f"/v1/jobs/{job['id']}/artifacts/video.mp4").content
    assert saved[0].read_bytes() == whole and len(whole) == done["result"]["outputs"][0]["bytes"]
    assert (tmp_path / "out" / "result.json").read_text().count(job["id"]) >= 1

    listed = client.list_jobs(git_commit="0123abc")["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_put_with_a_job_id_is_safe_to_retry(client: Client, sample_image: Path) -> None:
    image = {"image": sample_image}
    first = client.submit("image-to-video", image, {"prompt": "once"}, backend="noop", job_id="ci-put-1")
    again = client.submit("image-to-video", image, {"prompt": "once"}, backend="noop", job_id="ci-put-1")
    assert first["id"] == again["id"] == "ci-put-1"
    with pytest.raises(Conflict) as taken:
        client.submit("image-to-video", image, {"prompt": "other"}, backend="noop", job_id="ci-put-1")
    assert taken.value.argument == "job_id"
    assert taken.value.http_status_received == 409  # type: ignore[attr-defined]
    assert client.wait("ci-put-1", timeout=60)["status"] == "succeeded"


def test_submit_with_wait_answers_with_the_finished_job(client: Client, sample_image: Path) -> None:
    job = client.submit("image-to-video", {"image": sample_image}, backend="noop", wait=30)
    assert job["status"] == "succeeded" and job["result"] is not None


def test_server_errors_come_back_as_genserve_exceptions(
    client: Client, server: LiveServer, sample_image: Path, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput) as bad:
        client.submit("image-to-video", {"image": sample_image}, {"steps": 0}, backend="noop")
    assert type(bad.value) is InvalidInput and bad.value.argument == "steps" and bad.value.fix
    assert bad.value.http_status_received == 422  # type: ignore[attr-defined]

    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(MediaError) as media:
        client.submit("image-to-video", {"image": text}, backend="noop")
    assert media.value.argument == "image"

    with pytest.raises(NotFound) as missing:
        client.get("no-such-job")
    assert missing.value.argument == "job_id" and "/v1/jobs" in (missing.value.fix or "")

    done = client.submit("image-to-video", {"image": sample_image}, backend="noop", wait=30)
    with pytest.raises(Conflict):
        client.cancel(done["id"])
    other = Client(server.url, api_key="key-two", settings=Settings())
    with other, pytest.raises(NotFound):  # another key's job is not there for it
        other.get(done["id"])
    stranger = Client(server.url, api_key="wrong-key", settings=Settings())
    with stranger, pytest.raises(Unauthorized):
        stranger.list_jobs()
    client.delete(done["id"])
    with pytest.raises(NotFound):
        client.get(done["id"])


def test_a_missing_local_file_is_named_before_any_request(client: Client, tmp_path: Path) -> None:
    with pytest.raises(GenserveError) as missing:
        client.submit("image-to-video", {"image": tmp_path / "nope.jpg"})
    assert missing.value.argument == "image" and "nope.jpg" in missing.value.message


def test_wait_runs_out_with_job_timeout_and_the_job_goes_on(client: Client, sample_image: Path) -> None:
    job = client.submit("image-to-video", {"image": sample_image}, {"steps": 200}, backend="slow")
    with pytest.raises(JobTimeout) as late:
        client.wait(job["id"], timeout=1.5)
    assert job["id"] in (late.value.fix or "")
    assert client.get(job["id"])["status"] in ("queued", "running")
    assert client.cancel(job["id"])["status"] in ("running", "canceled")
    assert client.wait(job["id"], timeout=60)["status"] == "canceled"


def test_no_server_is_server_unreachable() -> None:
    nobody = Client(f"http://127.0.0.1:{free_port()}", settings=Settings())
    with nobody, pytest.raises(ServerUnreachable) as down:
        nobody.get("any-job")
    assert "cannot reach" in down.value.message and "GENSERVE_SERVER_URL" in (down.value.fix or "")


def test_a_proxys_text_error_is_raised_with_its_text() -> None:
    """A reverse proxy in front of the server answers 502 in plain text: no JSON to read."""

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"Bad Gateway: upstream is restarting"
            self.send_response(502)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        c = Client(f"http://127.0.0.1:{proxy.server_address[1]}", settings=Settings())
        with c, pytest.raises(GenserveError) as bad:
            c.get("any-job")
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert type(bad.value) is GenserveError and bad.value.http_status_received == 502  # type: ignore[attr-defined]
    assert bad.value.message == "Bad Gateway: upstream is restarting"


def test_the_server_url_comes_from_start_app_when_not_set(tmp_path: Path) -> None:
    (tmp_path / "app.url").write_text("http://127.0.0.1:9123/\n")
    assert Client(settings=Settings(data_dir=tmp_path)).url == "http://127.0.0.1:9123"
    explicit = Settings(data_dir=tmp_path, server_url="http://gpu-box:7860")
    assert Client(settings=explicit).url == "http://gpu-box:7860"
    (tmp_path / "app.url").write_text("not a url")
    assert Client(settings=Settings(data_dir=tmp_path)).url == "http://127.0.0.1:7860"


def test_download_follows_the_redirect_to_object_storage(
    s3_server: S3Server, sample_image: Path, tmp_path: Path
) -> None:
    """Outputs in S3: the server answers 307 to a presigned URL, and the client fetches the bytes
    from the storage host, not through the API."""
    prefix = "t/client-download"
    env = {**s3_server.env, "GENSERVE_ARTIFACTS_URL": f"s3://{s3_server.bucket}/{prefix}"}
    live = LiveServer(tmp_path, GENSERVE_API_KEYS=KEYS, **env).start()
    try:
        with Client(live.url, api_key="key-one", settings=Settings()) as c:
            job = c.submit("image-to-video", {"image": sample_image}, CAMERA, wait=120)
            assert job["status"] == "succeeded", job
            direct = c.http.get(f"/v1/jobs/{job['id']}/artifacts/video.mp4")
            assert direct.status_code == 307 and direct.headers["location"].startswith(s3_server.endpoint)
            saved = c.download(job, tmp_path / "out")
    finally:
        live.stop()
    found = s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix=f"{prefix}/")
    keys = [o["Key"] for o in found.get("Contents", []) if job["id"] in o["Key"]]
    (key,) = [k for k in keys if k.endswith("/video.mp4")]
    stored = s3_server.client().get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
    assert [p.name for p in saved] == ["video.mp4"] and saved[0].read_bytes() == stored
