"""A job as the store keeps it: one row of the ``jobs`` table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genserve.tasks.base import JobStatus


@dataclass
class JobRecord:
    id: str
    task: str
    status: JobStatus
    request: dict[str, Any]
    created_at: float
    backend: str | None = None
    priority: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    message: str | None = None
    progress_step: int | None = None
    progress_total: int | None = None
    attempt: int = 0
    worker: str | None = None
    lease_until: float | None = None
    cancel_requested: bool = False
    owner: str | None = None
    git_commit: str | None = None
    git_branch: str | None = None
    webhook_url: str | None = None
    webhook_events: str | None = None
    fingerprint: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    enqueued_at: float | None = None

    @classmethod
    def from_row(cls, row: Any) -> JobRecord:
        return cls.from_mapping(dict(row._mapping))

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> JobRecord:
        """From the row's columns by name (the dict is taken over)."""
        data["status"] = JobStatus(data["status"])
        return cls(**data)
