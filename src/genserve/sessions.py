"""Web UI sessions, kept server-side in the job store so that every API process shares them.

A browser trades an API key for a random session token at ``/login``; only the token's SHA-256 is
stored, beside the hash of the key it stands for. ``/logout`` deletes the row, a session expires
after ``Settings.session_ttl_s``, each login hands out a new token, and a session whose key is no
longer configured is refused (removing a key ends its sessions).
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa

from genserve.jobs.schema import SESSIONS
from genserve.jobs.store import JobStore


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def create(self, key_hash: str, ttl_s: float) -> str:
        """A new session for the key; returns the token (shown once, to the browser)."""
        token = secrets.token_urlsafe(32)
        now = self.store.clock.now()
        with self.store.engine.begin() as conn:
            conn.execute(SESSIONS.delete().where(SESSIONS.c.expires_at < now))
            conn.execute(
                SESSIONS.insert().values(
                    id=_digest(token), key_hash=key_hash, created_at=now, expires_at=now + ttl_s
                )
            )
        return token

    def key_hash(self, token: str) -> str | None:
        """The hash of the key a live session stands for; None when unknown, expired or revoked."""
        if not token or len(token) > 128:
            return None
        query = sa.select(SESSIONS.c.key_hash).where(
            SESSIONS.c.id == _digest(token), SESSIONS.c.expires_at >= self.store.clock.now()
        )
        with self.store.engine.connect() as conn:
            found = conn.execute(query).scalar_one_or_none()
        return str(found) if found else None

    def revoke(self, token: str) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(SESSIONS.delete().where(SESSIONS.c.id == _digest(token)))
