"""The webhook sender against real HTTP receivers on 127.0.0.1, jobs run by a real service:
how many tries and how far apart, one job's deliveries in event order while another job's go on,
redirects not followed, a receiver that comes back, and the host allowlist's edges.

(Signing, one retry after a 500 and the rules at submit are in test_api_webhooks.py; deliveries
surviving an API crash in tests/e2e/test_webhook_outbox.py.)"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import svc_backends  # noqa: F401 - registers the noop and slow backends

from genserve.caller import SYSTEM
from genserve.config import Settings
from genserve.errors import Forbidden, InvalidInput
from genserve.jobs.schema import OUTBOX
from genserve.jobs.webhooks import check_webhook
from genserve.service import Service, Submission, Upload
from genserve.tasks.base import JobStatus

SECRET = "hook-secret"


class Receiver:
    """Keeps every POST; answers with ``answer(call number)``: a status, or (status, headers)."""

    def __init__(self, answer: Callable[[int], int | tuple[int, dict[str, str]]], port: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"headers": dict(self.headers), "body": body, "at": time.time()})
                reply = answer(len(receiver.calls))
                status, headers = reply if isinstance(reply, tuple) else (reply, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(call["body"]) for call in self.calls]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def _receiver(made: list[Receiver], answer: Callable[[int], Any], port: int = 0) -> Receiver:
    receiver = Receiver(answer, port)
    made.append(receiver)
    return receiver


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    hooked = settings.model_copy(update={"webhook_secret": SECRET, "webhook_hosts": "127.0.0.1"})
    svc = Service(hooked)
    svc.start()
    yield svc
    svc.stop()


def _submit(
    svc: Service,
    sample: Path,
    tmp: Path,
    url: str,
    events: str | None = None,
    backend: str = "noop",
    **params: Any,
) -> str:
    copy = tmp / f"up-{time.perf_counter_ns()}.jpg"
    shutil.copy(sample, copy)
    sub = Submission(
        task="image-to-video",
        backend=backend,
        params=params,
        files={"image": [Upload(copy, "in.jpg")]},
        webhook_url=url,
        webhook_events=events,
    )
    return svc.submit(sub).id


def _until(check: Callable[[], bool], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _outbox(svc: Service, job_id: str) -> list[dict[str, Any]]:
    with svc.store.engine.connect() as conn:
        rows = conn.execute(OUTBOX.select().where(OUTBOX.c.job_id == job_id).order_by(OUTBOX.c.id))
        return [dict(row._mapping) for row in rows]


def _signed(call: dict[str, Any]) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), call["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(call["headers"]["X-Genserve-Signature"], expected)


def test_a_failing_receiver_gets_one_try_and_each_retry_further_apart_then_none(
    service: Service, sample_image: Path, tmp_path: Path, receivers: list[Receiver]
) -> None:
    service.webhooks.delays = (0.2, 0.4, 0.8)
    down = _receiver(receivers, lambda n: 500)
    job_id = _submit(service, sample_image, tmp_path, down.url)
    assert _until(lambda: len(down.calls) >= 4)
    time.sleep(1.2)  # longer than the last delay: a fifth try would have come
    assert len(down.calls) == 4
    gaps = [b["at"] - a["at"] for a, b in zip(down.calls, down.calls[1:], strict=False)]
    for gap, delay in zip(gaps, service.webhooks.delays, strict=True):
        assert gap >= delay - 0.05, gaps  # backed off, not retried at once
    # every try is the same delivery: the same event id (for the receiver to deduplicate), body, signature
    assert {c["headers"]["X-Genserve-Event-Id"] for c in down.calls} == {str(down.bodies[0]["event_id"])}
    assert len({c["body"] for c in down.calls}) == 1 and all(_signed(c) for c in down.calls)
    assert down.bodies[0]["event"] == "completed" and down.bodies[0]["job_id"] == job_id  # the default
    (row,) = _outbox(service, job_id)
    assert (row["state"], row["attempts"], row["last_error"]) == ("failed", 4, "HTTP 500")


def test_one_jobs_deliveries_keep_event_order_while_another_jobs_go_on(
    service: Service, sample_image: Path, tmp_path: Path, receivers: list[Receiver]
) -> None:
    service.webhooks.delays = (1.0, 1.0, 1.0)
    flaky = _receiver(receivers, lambda n: 500 if n <= 2 else 204)  # the job's first event fails twice
    steady = _receiver(receivers, lambda n: 200)
    events = "started,progress,completed"
    slow = _submit(service, sample_image, tmp_path, flaky.url, events, backend="slow", steps=3)
    other = _submit(service, sample_image, tmp_path, steady.url)
    assert service.wait(other, 15, SYSTEM).status == JobStatus.succeeded
    assert _until(lambda: len(steady.calls) == 1)
    assert _until(lambda: len(flaky.calls) >= 3)
    # the other job's delivery went while this job's first event waited for its second retry
    assert steady.calls[0]["at"] < flaky.calls[2]["at"]

    expected = [e.id for e in service.store.events(slow, types=("started", "progress", "completed"))]
    assert _until(lambda: [row["state"] for row in _outbox(service, slow)] == ["delivered"] * len(expected))
    received = [int(c["headers"]["X-Genserve-Event-Id"]) for c in flaky.calls]
    assert received == [expected[0], expected[0], *expected]  # the first twice more, then each in order
    assert [b["event"] for b in flaky.bodies][-1] == "completed"
    assert {b["event"] for b in flaky.bodies} == {"started", "progress", "completed"}  # no queued, no log
    assert steady.bodies[0]["job_id"] == other


def test_a_redirect_is_not_followed(
    service: Service, sample_image: Path, tmp_path: Path, receivers: list[Receiver]
) -> None:
    """A receiver may not send the signed body on to another address: a 3xx is a failed try."""
    service.webhooks.delays = (0.05, 0.05, 0.05)
    elsewhere = _receiver(receivers, lambda n: 200)
    redirecting = _receiver(receivers, lambda n: (307, {"Location": elsewhere.url}))
    job_id = _submit(service, sample_image, tmp_path, redirecting.url)
    assert _until(lambda: [r["state"] for r in _outbox(service, job_id)] == ["failed"])
    (row,) = _outbox(service, job_id)
    assert row["last_error"] == "HTTP 307" and len(redirecting.calls) == 4
    assert elsewhere.calls == []


def test_a_receiver_that_comes_back_gets_the_delivery_at_a_retry(
    service: Service, sample_image: Path, tmp_path: Path, receivers: list[Receiver]
) -> None:
    service.webhooks.delays = (0.5, 1.0, 2.0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    job_id = _submit(service, sample_image, tmp_path, url)
    assert _until(lambda: any(r["attempts"] >= 1 for r in _outbox(service, job_id)))
    (row,) = _outbox(service, job_id)
    assert row["state"] == "pending" and row["last_error"] == "ConnectError"
    back = _receiver(receivers, lambda n: 200, port=port)
    assert _until(lambda: [r["state"] for r in _outbox(service, job_id)] == ["delivered"])
    assert len(back.calls) == 1 and back.bodies[0]["job_id"] == job_id and _signed(back.calls[0])


def _hooks(hosts: str) -> Settings:
    return Settings(webhook_hosts=hosts, webhook_secret=SECRET)


@pytest.mark.parametrize(
    ("hosts", "url"),
    [
        ("ci.example.com", "https://CI.Example.com/hook"),  # host names are case-insensitive
        (" CI.EXAMPLE.COM , builds.example.com ", "https://ci.example.com:8443/hook?run=7"),
        ("ci.example.com,127.0.0.1", "http://127.0.0.1:9000/hook"),
    ],
)
def test_an_allowed_host_is_allowed(hosts: str, url: str) -> None:
    check_webhook(_hooks(hosts), url, " started , completed ")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.ci.example.com/hook",  # a subdomain is another host
        "https://ci.example.com.evil.net/hook",
        "https://ci.example.co/hook",
        "http://localhost/hook",  # the same machine under another name is not listed
        "http://[::1]/hook",
    ],
)
def test_an_unlisted_host_is_forbidden(url: str) -> None:
    with pytest.raises(Forbidden) as refused:
        check_webhook(_hooks("ci.example.com,127.0.0.1"), url, None)
    assert refused.value.argument == "webhook_url" and "ci.example.com" in (refused.value.fix or "")


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_webhook(_hooks("ci.example.com"), "https://bot:hunter2@ci.example.com/hook", None)
    assert "hunter2" not in refused.value.message and "X-Genserve-Signature" in (refused.value.fix or "")


@pytest.mark.parametrize(
    "url", ["https://ci.example.com:0/hook", "https://ci.example.com:99999/hook", "https:///hook"]
)
def test_a_url_without_a_usable_host_and_port_is_invalid(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_webhook(_hooks("ci.example.com"), url, None)
    assert refused.value.argument == "webhook_url" and "https://" in (refused.value.fix or "")


def test_no_listed_hosts_forbids_every_webhook() -> None:
    with pytest.raises(Forbidden) as refused:
        check_webhook(_hooks(""), "https://ci.example.com/hook", None)
    assert "empty" in (refused.value.fix or "")


def test_deliveries_stay_queued_while_the_server_sends_none(
    settings: Settings, sample_image: Path, tmp_path: Path, receivers: list[Receiver]
) -> None:
    """A worker's service sends no webhooks: the outbox keeps them for an API process to send."""
    hooked = settings.model_copy(update={"webhook_secret": SECRET, "webhook_hosts": "127.0.0.1"})
    listening = _receiver(receivers, lambda n: 200)
    worker = Service(hooked, webhooks=False).start()
    try:
        job_id = _submit(worker, sample_image, tmp_path, listening.url)
        assert worker.wait(job_id, 10, SYSTEM).status == JobStatus.succeeded
        time.sleep(0.5)
        assert listening.calls == [] and [r["state"] for r in _outbox(worker, job_id)] == ["pending"]
    finally:
        worker.stop()
    api = Service(hooked, run_jobs=False).start()
    try:
        assert _until(lambda: len(listening.calls) == 1)
        assert listening.bodies[0]["job_id"] == job_id and _signed(listening.calls[0])
    finally:
        api.stop()
