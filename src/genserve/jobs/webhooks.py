"""Webhooks: a job's events POSTed to the caller's URL, signed with HMAC-SHA256, retried with backoff.

Only hosts named in ``Settings.webhook_hosts`` are called (the service never becomes a way to
reach arbitrary internal addresses). The receiver checks ``X-Genserve-Signature: sha256=<hex>``,
the HMAC of the raw body with the shared ``Settings.webhook_secret``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from genserve.config import Settings
from genserve.errors import InvalidInput
from genserve.jobs.store import Event, JobStore

log = logging.getLogger("genserve.webhooks")

EVENT_TYPES = ("queued", "started", "progress", "log", "completed", "requeued")
DEFAULT_EVENTS = "completed"
RETRY_DELAYS_S = (0.5, 2.0, 8.0)  # NOTE: three retries after the first try, backing off 4x
LANES = 4


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def allowed_hosts(settings: Settings) -> list[str]:
    return [h.strip().lower() for h in settings.webhook_hosts.split(",") if h.strip()]


def check_webhook(settings: Settings, url: str, events: str | None) -> None:
    """Refuse a webhook the settings do not allow; names the rule and the fix."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            "must be an http(s) URL",
            argument="webhook_url",
            value=url,
            fix="e.g. https://ci.example.com/hook",
        )
    hosts = allowed_hosts(settings)
    if parts.hostname.lower() not in hosts:
        raise InvalidInput(
            f"host '{parts.hostname}' is not allowed to receive webhooks",
            argument="webhook_url",
            value=url,
            fix=f"the server's admin adds it to GENSERVE_WEBHOOK_HOSTS (now: {', '.join(hosts) or 'empty'})",
        )
    if not settings.webhook_secret:
        raise InvalidInput(
            "webhooks are signed, and this server has no signing key",
            argument="webhook_url",
            fix="the server's admin sets GENSERVE_WEBHOOK_SECRET",
        )
    for name in filter(None, (e.strip() for e in (events or DEFAULT_EVENTS).split(","))):
        if name not in EVENT_TYPES:
            raise InvalidInput(
                "is not an event type",
                argument="webhook_events",
                value=name,
                fix=f"use {', '.join(EVENT_TYPES)}",
            )


class WebhookSender:
    """Listens to the event bus; sends the events a job asked for from a small thread pool."""

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        # one thread per lane, a job always in the same lane: its webhooks arrive in order
        self.lanes: list[ThreadPoolExecutor] = []
        self.delays = RETRY_DELAYS_S

    def on_event(self, event: Event) -> None:
        if not self.settings.webhook_hosts:
            return
        record = self.store.get(event.job_id)
        if record is None or not record.webhook_url:
            return
        wanted = {e.strip() for e in (record.webhook_events or DEFAULT_EVENTS).split(",")}
        if event.type not in wanted:
            return
        body: dict[str, Any] = {
            "event": event.type,
            "job_id": event.job_id,
            "at": event.at,
            "data": event.data,
        }
        if event.type == "completed":
            body["result"] = record.result
        if not self.lanes:
            self.lanes = [
                ThreadPoolExecutor(1, thread_name_prefix=f"genserve-webhook-{i}") for i in range(LANES)
            ]
        lane = self.lanes[zlib.crc32(event.job_id.encode()) % LANES]
        lane.submit(self.deliver, record.webhook_url, event.type, body)

    def deliver(self, url: str, event_type: str, body: dict[str, Any]) -> bool:
        import httpx

        raw = json.dumps(body, separators=(",", ":"), default=str).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Genserve-Event": event_type,
            "X-Genserve-Signature": sign(self.settings.webhook_secret, raw),
        }
        for attempt, delay in enumerate((0.0, *self.delays)):
            time.sleep(delay)
            try:
                response = httpx.post(url, content=raw, headers=headers, timeout=10.0)
                if response.status_code < 300:
                    return True
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            log.warning("webhook to %s failed (try %d): %s", url, attempt + 1, reason)
        return False

    def close(self) -> None:
        for lane in self.lanes:
            lane.shutdown(wait=False, cancel_futures=True)
        self.lanes = []
