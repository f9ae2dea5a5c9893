"""Webhooks survive a crash: deliveries are queued in the store with their events, so an API killed
with deliveries pending sends them all after it is started again (at least once, by event id)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import LiveServer

pytestmark = pytest.mark.slow

SECRET = "outbox-secret"
SAMPLE = Path(__file__).resolve().parents[2] / "src" / "genserve" / "data" / "sample.jpg"


class Receiver:
    """Answers 503 while ``down``, 200 after; keeps every call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.down = True
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"headers": dict(self.headers), "body": body, "ok": not receiver.down})
                self.send_response(503 if receiver.down else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> dict[int, dict[str, Any]]:
        return {json.loads(c["body"])["event_id"]: c for c in self.calls if c["ok"]}


def test_pending_webhooks_are_delivered_after_the_api_is_killed_and_restarted(tmp_path: Path) -> None:
    receiver = Receiver()
    env = {"GENSERVE_WEBHOOK_HOSTS": "127.0.0.1", "GENSERVE_WEBHOOK_SECRET": SECRET}
    first = LiveServer(tmp_path, **env).start()
    try:
        files = {"image": ("p.jpg", SAMPLE.read_bytes(), "image/jpeg")}
        data = {
            "task": "image-to-video",
            "backend": "noop",
            "webhook_url": receiver.url,
            "webhook_events": "queued,started,completed",
        }
        job = httpx.post(
            f"{first.url}/v1/jobs", data=data, files=files, headers={"Prefer": "wait=20"}, timeout=30
        ).json()
        assert job["status"] == "succeeded", job
        deadline = time.monotonic() + 20
        while len(receiver.calls) < 3 and time.monotonic() < deadline:  # each event tried once, refused
            time.sleep(0.05)
        assert len(receiver.calls) >= 3 and not receiver.delivered()
    finally:
        first.kill9()
    receiver.down = False
    second = LiveServer(tmp_path, port=first.port, **env).start()
    try:
        deadline = time.monotonic() + 30
        while len(receiver.delivered()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        second.stop()
        receiver.server.shutdown()
    delivered = receiver.delivered()
    kinds = sorted(json.loads(c["body"])["event"] for c in delivered.values())
    assert kinds == ["completed", "queued", "started"], receiver.calls
    for event_id, call in delivered.items():
        assert call["headers"]["X-Genserve-Event-Id"] == str(event_id)
        expected = "sha256=" + hmac.new(SECRET.encode(), call["body"], hashlib.sha256).hexdigest()
        assert call["headers"]["X-Genserve-Signature"] == expected
    done = next(
        json.loads(c["body"]) for c in delivered.values() if json.loads(c["body"])["event"] == "completed"
    )
    assert done["job_id"] == job["id"] and done["result"]["status"] == "succeeded"
