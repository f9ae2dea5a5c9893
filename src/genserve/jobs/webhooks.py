"""Webhooks: a job's events POSTed to the caller's URL, signed with HMAC-SHA256, retried with backoff,
from a durable outbox in the store (each delivered at least once; ``event_id`` deduplicates).

Only hosts named in ``Settings.webhook_hosts`` are called (the service never becomes a way to
reach arbitrary internal addresses). The receiver checks ``X-Genserve-Signature: sha256=<hex>``,
the HMAC of the raw body with the shared ``Settings.webhook_secret``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

from genserve.config import Settings
from genserve.errors import Forbidden, InvalidInput
from genserve.jobs.events import Event
from genserve.jobs.outbox import DEFAULT_WEBHOOK_EVENTS
from genserve.jobs.store import JobStore

log = logging.getLogger("genserve.webhooks")

EVENT_TYPES = ("queued", "started", "progress", "log", "completed", "requeued")
DEFAULT_EVENTS = DEFAULT_WEBHOOK_EVENTS
RETRY_DELAYS_S = (0.5, 2.0, 8.0)  # NOTE: three retries after the first try, backing off 4x


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def allowed_hosts(settings: Settings) -> list[str]:
    return [h.strip().lower() for h in settings.webhook_hosts.split(",") if h.strip()]


def check_webhook(settings: Settings, url: str, events: str | None) -> None:
    """Refuse a webhook the settings do not allow; names the rule and the fix."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = urlsplit(""), False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise InvalidInput(
            "must be an http(s) URL",
            argument="webhook_url",
            value=url,
            fix="e.g. https://ci.example.com/hook",
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "may not carry credentials (user:password@); webhooks are authenticated by their signature",
            argument="webhook_url",
            value=f"{parts.scheme}://…@{parts.hostname}",
            fix="drop the credentials and check X-Genserve-Signature in the receiver",
        )
    for name in filter(None, (e.strip() for e in (events or DEFAULT_EVENTS).split(","))):
        if name not in EVENT_TYPES:
            raise InvalidInput(
                "is not an event type",
                argument="webhook_events",
                value=name,
                fix=f"use {', '.join(EVENT_TYPES)}",
            )
    hosts = allowed_hosts(settings)
    if parts.hostname.lower() not in hosts:
        raise Forbidden(
            f"host '{parts.hostname}' is not allowed to receive webhooks",
            argument="webhook_url",
            value=url,
            fix=f"the server's admin adds it to GENSERVE_WEBHOOK_HOSTS (now: {', '.join(hosts) or 'empty'})",
        )
    if not settings.webhook_secret:
        raise Forbidden(
            "webhooks are signed, and this server has no signing key",
            argument="webhook_url",
            fix="the server's admin sets GENSERVE_WEBHOOK_SECRET",
        )


class WebhookSender:
    """Delivers the webhook outbox: the store queues a delivery in the same transaction as its
    event (``JobStore._queue_webhook``), so an API restart loses none; any API process may send it
    (each claims a delivery for a while first). Each delivery is tried, then retried after
    ``delays``; it is sent at least once, with its ``event_id`` for the receiver to deduplicate."""

    CLAIM_S = 30.0
    POLL_S = 0.2

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        self.delays = RETRY_DELAYS_S
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def start(self) -> None:
        if not self.settings.webhook_hosts or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="genserve-webhooks", daemon=True)
        self._thread.start()

    def on_event(self, event: Event) -> None:
        """An event here: look at the outbox now rather than at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                rows = self.store.outbox.claim(self.CLAIM_S)
            except Exception:
                log.exception("webhooks: store unreachable; retrying")
                rows = []
            for row in rows:
                if self._stop.is_set():
                    break
                self.send(row)
            if not rows:
                self._wake.wait(self.POLL_S)
                self._wake.clear()

    def send(self, row: dict[str, Any]) -> bool:
        """One try of one delivery; records the outcome (and when to retry) in the outbox."""
        import httpx

        raw = json.dumps(row["body"], separators=(",", ":"), default=str).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Genserve-Event": row["event_type"],
            "X-Genserve-Event-Id": str(row["event_id"]),
            "X-Genserve-Signature": sign(self.settings.webhook_secret, raw),
        }
        try:
            response = httpx.post(row["url"], content=raw, headers=headers, timeout=10.0)
            error = None if response.status_code < 300 else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        attempt = int(row["attempts"]) + 1
        retry_at = None
        if error is not None:
            log.warning("webhook to %s failed (try %d): %s", row["url"], attempt, error)
            if attempt <= len(self.delays):
                retry_at = self.store.clock.now() + self.delays[attempt - 1]
        self.store.outbox.done(row["id"], delivered=error is None, error=error, retry_at=retry_at)
        return error is None

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
