"""A submission: what a door hands the service to make a job (task, params, uploaded files, options),
its checks before any file is stored, and the spooling of uploads to temporary files."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genserve.errors import InvalidInput
from genserve.jobs.celery_app import queue_name
from genserve.names import JOB_ID_RE, check_field_name, check_line, client_filename

PRIORITY_MIN, PRIORITY_MAX = -100, 100


IN_MEMORY_MAX = 1 << 20  # NOTE: an upload up to this size is held in memory: no file until it is stored


@dataclass
class Upload:
    """One uploaded file and the client's name for it: a file the service moves into the artifact
    store, or (``path`` None) its ``data``, when a door holds a small upload in memory."""

    path: Path | None
    filename: str
    stored: bool = False  # moved (or written) into the artifact store
    data: bytes | None = None

    @property
    def content(self) -> Path | bytes:
        """What the artifact store keeps: the bytes, or the file to move."""
        if self.data is not None:
            return self.data
        assert self.path is not None, "an upload is a file or bytes"
        return self.path

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.path is not None, "an upload is a file or bytes"
        with self.path.open("rb") as fh:
            yield from iter(lambda: fh.read(1 << 20), b"")

    def discard(self) -> None:
        """Remove its file, unless the artifact store has it now."""
        if self.path is not None and not self.stored:
            self.path.unlink(missing_ok=True)


@dataclass
class Submission:
    task: str
    params: dict[str, Any] = field(default_factory=dict)
    files: dict[str, list[Upload]] = field(default_factory=dict)
    backend: str | None = None
    model: str | None = None
    device: str | None = None
    priority: int = 0
    webhook_url: str | None = None
    webhook_events: str | None = None
    git_commit: str | None = None
    git_branch: str | None = None
    owner: str | None = None
    batch: str | None = None  # the batch (`genserve batch`) and its manifest row the job was made for
    batch_row: str | None = None
    pool: str | None = None  # a GPU pool: the job goes to the queue <task>.<pool> (queue executors)

    def fingerprint(self) -> str:
        """Identifies the request (for idempotent PUT): task, backend, params and file contents."""
        digest = hashlib.sha256()
        head = [self.task, self.backend, self.model, self.params, self.priority, self.webhook_url, self.pool]
        digest.update(json.dumps(head, sort_keys=True, default=str).encode())
        for name in sorted(self.files):
            for upload in self.files[name]:
                digest.update(name.encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
        return digest.hexdigest()


def _check_names(sub: Submission) -> None:
    """Every name in a submission against its allowlist, before any file is stored."""
    for name, uploads in sub.files.items():
        check_field_name(name)
        for upload in uploads:
            client_filename(upload.filename, name)
    for argument in ("task", "backend", "model", "device", "git_commit", "git_branch"):
        value = getattr(sub, argument)
        if value is not None:
            check_line(argument, value, 255 if argument != "model" else 1000)
    if sub.pool is not None:
        queue_name(sub.task, sub.pool)
    for argument in ("webhook_url", "webhook_events"):
        value = getattr(sub, argument)
        if value is not None:
            check_line(argument, value, 2000)


def _batch_of(sub: Submission) -> dict[str, Any]:
    """The batch and manifest row a job belongs to, kept with its request (``GET /v1/jobs?batch=``)."""
    if sub.batch is None and sub.batch_row is None:
        return {}
    for argument in ("batch", "batch_row"):
        value = getattr(sub, argument)
        if value is None or not JOB_ID_RE.match(value):
            raise InvalidInput(
                "must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit",
                argument=argument,
                value=value,
                fix="send batch and batch_row together, e.g. batch=release-42 and batch_row=hero",
            )
    return {"batch": {"id": sub.batch, "row": sub.batch_row}}


def check_submission(sub: Submission) -> dict[str, Any]:
    """The priority's bounds and every name against its allowlist, before any file is stored;
    returns the batch and row the job belongs to (for its request)."""
    if not PRIORITY_MIN <= sub.priority <= PRIORITY_MAX:
        raise InvalidInput(
            f"must be between {PRIORITY_MIN} and {PRIORITY_MAX}",
            argument="priority",
            value=sub.priority,
            fix="e.g. priority=10 (higher runs first; default 0)",
        )
    _check_names(sub)
    return _batch_of(sub)


def spool_upload(data: Any, filename: str, tmp_dir: Path | None = None) -> Upload:
    """Read a file-like object into an upload (used by the doors): up to ``IN_MEMORY_MAX`` bytes
    are held in memory, a larger one is copied to a temp file the service can move."""
    head = data.read(IN_MEMORY_MAX + 1)
    if len(head) <= IN_MEMORY_MAX:
        return Upload(None, filename or "upload", data=head)
    tmp_dir = tmp_dir or Path(tempfile.gettempdir())
    with tempfile.NamedTemporaryFile(delete=False, dir=tmp_dir, prefix="genserve-upload-") as out:
        out.write(head)
        shutil.copyfileobj(data, out, 1 << 20)
    return Upload(Path(out.name), filename or "upload")
