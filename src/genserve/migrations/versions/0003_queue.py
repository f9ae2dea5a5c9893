"""queue executors: when a job was last published to the broker, the workers alive, and a durable
outbox of webhook deliveries

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("enqueued_at", sa.Float))
    op.create_table(
        "workers",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("queues", sa.Text, nullable=False),
        sa.Column("device", sa.String(64)),
        sa.Column("busy", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )

    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer, nullable=False, unique=True),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("claimed_until", sa.Float),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["state", "next_at"])
    op.create_index("ix_webhook_outbox_job", "webhook_outbox", ["job_id", "state", "id"])


def downgrade() -> None:
    op.drop_table("webhook_outbox")
    op.drop_table("workers")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("enqueued_at")
