"""The tables of the store, declared once: the queries use them, and a test checks that the
migrations (``genserve/migrations/versions``) build exactly this schema on SQLite and PostgreSQL.

A change here needs a new migration; the migrations stay as written (they are history).
"""

from __future__ import annotations

import sqlalchemy as sa

META = sa.MetaData()

JOBS = sa.Table(
    "jobs",
    META,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("task", sa.String(64), nullable=False),
    sa.Column("backend", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("result", sa.JSON),
    sa.Column("error", sa.String(64)),
    sa.Column("message", sa.Text),
    sa.Column("progress_step", sa.Integer),
    sa.Column("progress_total", sa.Integer),
    sa.Column("attempt", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("worker", sa.String(200)),
    sa.Column("lease_until", sa.Float),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sa.Column("owner", sa.String(64)),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("git_branch", sa.String(255)),
    sa.Column("webhook_url", sa.Text),
    sa.Column("webhook_events", sa.String(255)),
    sa.Column("fingerprint", sa.String(64)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("enqueued_at", sa.Float),  # last published to a broker (queue executors)
    sa.Index("ix_jobs_status_priority", "status", "priority", "created_at"),
    sa.Index("ix_jobs_created", "created_at", "id"),
    sa.Index("ix_jobs_git_commit", "git_commit"),
    sa.Index("ix_jobs_owner", "owner", "status"),
)

EVENTS = sa.Table(
    "job_events",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_job_events_job", "job_id", "id"),
)

WORKERS = sa.Table(
    "workers",
    META,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("queues", sa.Text, nullable=False),
    sa.Column("device", sa.String(64)),
    sa.Column("busy", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
)

OUTBOX = sa.Table(
    "webhook_outbox",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Integer, nullable=False, unique=True),
    sa.Column("job_id", sa.String(64), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("next_at", sa.Float, nullable=False),
    sa.Column("claimed_until", sa.Float),
    # pending | delivered | failed
    sa.Column("state", sa.String(16), nullable=False, default="pending", server_default="pending"),
    sa.Column("last_error", sa.Text),
    sa.Index("ix_webhook_outbox_due", "state", "next_at"),
    sa.Index("ix_webhook_outbox_job", "job_id", "state", "id"),
)

SESSIONS = sa.Table(  # web UI sessions (genserve.sessions)
    "sessions",
    META,
    sa.Column("id", sa.String(64), primary_key=True),  # sha256 of the token
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_sessions_key", "key_hash"),
)
