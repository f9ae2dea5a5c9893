"""Access control: API keys (Bearer), an IP allowlist (CIDR), web UI sessions and the upload size limit.

A pure ASGI middleware, so it guards every route (the API, the web UI mounted on it, /metrics,
/docs) except liveness and readiness probes. It turns the request into a :class:`Caller`, which
the service uses to enforce ownership. Keys are kept only as SHA-256 hashes (the settings may give
them that way too, as ``sha256:<hex>``); a browser proves its key with a server-side session
(``genserve.sessions``) created by the web UI's login page, the one page reachable without a key.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from typing import Any

from genserve.caller import Caller
from genserve.config import Settings
from genserve.errors import Forbidden, GenserveError, MediaTooLarge, Unauthorized
from genserve.sessions import SessionStore

OPEN_PATHS = ("/healthz", "/readyz")
KEY_FREE_PATHS = ("/login", "/logout")  # the web UI's login and logout: the IP allowlist still applies
SESSION_COOKIE = "genserve_session"
FORM_SLACK_BYTES = 1 << 20  # NOTE: room for the form fields and multipart boundaries beside the files


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id(key: str) -> str:
    """A stable, non-secret id for an API key (the job's owner)."""
    return key_hash(key)[:16]


def _hashes(keys: str, argument: str) -> list[str]:
    found = []
    for entry in filter(None, (k.strip() for k in keys.split(","))):
        if entry.startswith("sha256:"):
            digest = entry[7:].lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise GenserveError(
                    "a 'sha256:' entry must hold 64 hex digits",
                    argument=argument,
                    fix='e.g. sha256:$(printf %s "$KEY" | sha256sum | cut -c1-64)',
                )
            found.append(digest)
        else:
            found.append(key_hash(entry))
    return found


def cookie(headers: dict[str, str], name: str) -> str:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


class Access:
    def __init__(self, settings: Settings, sessions: SessionStore | None = None) -> None:
        admins = _hashes(settings.admin_keys, "GENSERVE_ADMIN_KEYS")
        # hash of a key -> admin?
        self.keys: dict[str, bool] = {h: False for h in _hashes(settings.api_keys, "GENSERVE_API_KEYS")}
        self.keys.update({h: True for h in admins})
        self.sessions = sessions
        self.session_ttl_s = settings.session_ttl_s
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

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def client_allowed(self, host: str | None) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    def match(self, key: str) -> str | None:
        """The hash of ``key`` when it is a configured key (compared in constant time)."""
        given = key_hash(key)
        found = None
        for known in self.keys:
            if hmac.compare_digest(given, known):
                found = known
        return found

    def caller(self, headers: dict[str, str]) -> Caller:
        """Who is asking; raises Unauthorized when keys are configured and none is proven."""
        auth = headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key", "")
        if not self.keys:  # an open service: no tenants (a key, if sent, still names the caller)
            return Caller(owner=key_id(given) if given else None, admin=True)
        if given:
            found = self.match(given)
        else:
            token = cookie(headers, SESSION_COOKIE)
            found = self.sessions.key_hash(token) if token and self.sessions is not None else None
            if found is not None and found not in self.keys:
                found = None  # the key was removed: its sessions end with it
        if found is None:
            raise Unauthorized(
                "the API key is not valid"
                if given
                else "a valid API key (or a live web UI session) is required",
                argument="Authorization",
                fix="send the header 'Authorization: Bearer <key>' with a key from GENSERVE_API_KEYS",
            )
        return Caller(owner=found[:16], admin=self.keys[found])

    def login(self, key: str) -> str | None:
        """A new session token for a valid key (None when the key is not valid)."""
        found = self.match(key) if key else None
        if found is None or self.sessions is None:
            return None
        return self.sessions.create(found, self.session_ttl_s)

    def logout(self, headers: dict[str, str]) -> None:
        token = cookie(headers, SESSION_COOKIE)
        if token and self.sessions is not None:
            self.sessions.revoke(token)


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
            caller = None if scope["path"] in KEY_FREE_PATHS else self.access.caller(headers)
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
        scope.setdefault("state", {})["caller"] = caller
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
