"""Webhooks to a real HTTP receiver on 127.0.0.1: signed with HMAC-SHA256, retried, host-restricted."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import svc_backends  # noqa: F401 - registers the noop backend
from fastapi.testclient import TestClient

from genserve.api import create_app
from genserve.config import Settings

SECRET = "s3cret"


class Receiver:
    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"headers": dict(self.headers), "body": body})
                ok = len(receiver.calls) > receiver.fail_first
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, n: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=1)
    yield r
    r.close()


def _client(settings: Settings) -> TestClient:
    hooked = settings.model_copy(update={"webhook_secret": SECRET, "webhook_hosts": "127.0.0.1"})
    app = create_app(hooked)
    app.state.service.webhooks.delays = (0.05, 0.1, 0.2)  # the backoff, shortened for the test
    return TestClient(app)


def test_signed_webhook_is_retried_until_delivered(
    settings: Settings, sample_image: Path, receiver: Receiver
) -> None:
    with _client(settings) as c:
        data = {
            "task": "image-to-video",
            "backend": "noop",
            "webhook_url": receiver.url,
            "webhook_events": "started,completed",
        }
        image = {"image": ("p.jpg", sample_image.read_bytes(), "image/jpeg")}
        job = c.post("/v1/jobs", data=data, files=image, headers={"Prefer": "wait=10"}).json()
        receiver.wait_for(3)
    assert job.get("status") == "succeeded", job
    assert len(receiver.calls) == 3  # started failed once (HTTP 500) and was retried; completed once
    bodies = [json.loads(call["body"]) for call in receiver.calls]
    assert [b["event"] for b in bodies] == ["started", "started", "completed"]
    for call in receiver.calls:
        expected = "sha256=" + hmac.new(SECRET.encode(), call["body"], hashlib.sha256).hexdigest()
        assert call["headers"]["X-Genserve-Signature"] == expected
    done = bodies[-1]
    assert done["job_id"] == job["id"] and done["result"]["status"] == "succeeded"
    assert receiver.calls[-1]["headers"]["X-Genserve-Event"] == "completed"


def test_webhook_rules_are_checked_at_submit(settings: Settings, sample_image: Path) -> None:
    image = {"image": ("p.jpg", sample_image.read_bytes(), "image/jpeg")}
    base = {"task": "image-to-video", "backend": "noop"}
    with _client(settings) as c:
        r = c.post("/v1/jobs", data={**base, "webhook_url": "http://10.1.2.3/hook"}, files=image)
        assert (  # a host the server may not reach: forbidden, the admin's rule
            r.status_code == 403
            and r.json()["argument"] == "webhook_url"
            and "GENSERVE_WEBHOOK_HOSTS" in r.json()["fix"]
        )
        r = c.post("/v1/jobs", data={**base, "webhook_url": "ftp://127.0.0.1/x"}, files=image)
        assert r.status_code == 422
        r = c.post(
            "/v1/jobs",
            data={**base, "webhook_url": "http://127.0.0.1/x", "webhook_events": "done"},
            files=image,
        )
        assert r.status_code == 422 and r.json()["argument"] == "webhook_events"
    with TestClient(create_app(settings.model_copy(update={"webhook_hosts": "127.0.0.1"}))) as c:
        r = c.post("/v1/jobs", data={**base, "webhook_url": "http://127.0.0.1/x"}, files=image)
        assert r.status_code == 403 and "GENSERVE_WEBHOOK_SECRET" in r.json()["fix"]
