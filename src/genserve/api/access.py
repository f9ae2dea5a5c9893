"""Access control: API keys (Bearer), an IP allowlist (CIDR) and the upload size limit.

A pure ASGI middleware, so it guards every route (the API, the web UI mounted on it, /metrics,
/docs) except liveness and readiness probes. A browser proves its key with the web UI's session
cookie (set by its login page, which is the one page reachable without a key).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from typing import Any

from genserve.config import Settings
from genserve.errors import Forbidden, GenserveError, MediaTooLarge, Unauthorized

OPEN_PATHS = ("/healthz", "/readyz")
KEY_FREE_PATHS = ("/login",)  # the web UI's login page: no key needed, the IP allowlist still applies
SESSION_COOKIE = "genserve_session"
FORM_SLACK_BYTES = 1 << 20  # NOTE: room for the form fields and multipart boundaries beside the files


def key_id(key: str) -> str:
    """A stable, non-secret id for an API key (the job's owner)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def session_token(key: str) -> str:
    """The web UI's session cookie for ``key``: proves the key without carrying it."""
    return hmac.new(key.encode(), b"genserve web UI session", hashlib.sha256).hexdigest()


def _cookie(headers: dict[str, str], name: str) -> str:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


class Access:
    def __init__(self, settings: Settings) -> None:
        self.keys = [k.strip() for k in settings.api_keys.split(",") if k.strip()]
        self.networks = []
        for cidr in filter(None, (c.strip() for c in settings.allow_ips.split(","))):
            try:
                self.networks.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                raise GenserveError(
                    "is not an IP network",
                    argument="GENSERVE_ALLOW_IPS",
                    value=cidr,
                    fix="e.g. 10.0.0.0/8,127.0.0.1",
                ) from None
        self.max_body = settings.max_upload_bytes + FORM_SLACK_BYTES

    def client_allowed(self, host: str | None) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    def owner(self, headers: dict[str, str]) -> str | None:
        """The caller's key id; raises Unauthorized when keys are configured and none matches."""
        auth = headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key", "")
        if not self.keys:
            return key_id(given) if given else None
        if given and any(hmac.compare_digest(given.encode(), k.encode()) for k in self.keys):
            return key_id(given)
        session = "" if given else _cookie(headers, SESSION_COOKIE)
        for k in self.keys if session else ():
            if hmac.compare_digest(session.encode(), session_token(k).encode()):
                return key_id(k)
        raise Unauthorized(
            "a valid API key is required" if not given else "the API key is not valid",
            argument="Authorization",
            fix="send the header 'Authorization: Bearer <key>' with a key from GENSERVE_API_KEYS",
        )


def error_body(exc: GenserveError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    headers = [(b"content-type", b"application/json")]
    if exc.http_status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    return exc.http_status, json.dumps(exc.to_dict()).encode(), headers


class AccessMiddleware:
    def __init__(self, app: Any, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            client = scope.get("client")
            if not self.access.client_allowed(client[0] if client else None):
                raise Forbidden(
                    "this address may not call the service",
                    value=client[0] if client else None,
                    fix="call from an allowed network, or the admin adds it to GENSERVE_ALLOW_IPS",
                )
            owner = None if scope["path"] in KEY_FREE_PATHS else self.access.owner(headers)
            length = headers.get("content-length")
            if length and length.isdigit() and int(length) > self.access.max_body:
                raise _too_large(int(length), self.access.max_body)
        except GenserveError as exc:
            status, body, extra = error_body(exc)
            login = getattr(getattr(scope.get("app"), "state", None), "login_path", None)
            if status == 401 and login and _wants_page(scope, headers):
                status, body = 303, b""  # a browser asking for a page: to the web UI's login
                extra = [(b"location", f"{login}?next={scope.get('root_path', '')}{scope['path']}".encode())]
            await send({"type": "http.response.start", "status": status, "headers": extra})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["owner"] = owner
        await self.app(scope, _limited(receive, self.access.max_body), send)


def _wants_page(scope: dict[str, Any], headers: dict[str, str]) -> bool:
    return scope.get("method") == "GET" and "text/html" in headers.get("accept", "")


def _too_large(size: int, limit: int) -> MediaTooLarge:
    return MediaTooLarge(
        f"the request body is larger than the limit of {limit} bytes",
        argument="upload",
        value=size,
        fix="send a smaller file, or the admin raises GENSERVE_MAX_UPLOAD_BYTES",
    )


def _limited(receive: Any, limit: int) -> Any:
    """A receive() that stops a body without Content-Length from growing past the limit."""
    seen = 0

    async def wrapped() -> Any:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(seen, limit)
        return message

    return wrapped
