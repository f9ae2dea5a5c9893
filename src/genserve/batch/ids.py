"""Names in a batch: the batch id, each row's id and each attempt's job id.

A job id is derived from the batch id, the row id and a digest of everything the job is made of
(task, backend, parameters, the bytes of its input files), so running the same manifest again asks
the server for the same jobs (idempotent ``PUT /v1/jobs/{id}``): finished ones are found, not run
again, and a row whose content changed gets a new job instead of a conflict. A retried row's later
attempts get ``.2``, ``.3``... appended, so every attempt stays on record.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from genserve.errors import InvalidInput

ROW_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,23}$")
# files the batch writes beside the row folders: a row may not be named like one of them
REPORT_NAMES = frozenset({"results.jsonl", "results.csv", "junit.xml", "summary.md", "index.html"})
JOB_ID_MAX = 64
DIGEST_CHARS = 8
MAX_ATTEMPTS = 99
_ROW_PART_MAX = JOB_ID_MAX - 24 - 2 - DIGEST_CHARS - len(f".{MAX_ATTEMPTS}")  # 27


def digest(value: Any) -> str:
    """sha256 of a value's canonical JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def slug(text: str, max_chars: int) -> str:
    """Letters, digits, '-', '_' and '.', starting with a letter or digit, at most ``max_chars``."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")[:max_chars].rstrip("-_.")
    return cleaned or "batch"


def default_batch_id(manifest: Path) -> str:
    """The manifest's file name without its extension, as an id (``release-2.jsonl`` -> ``release-2``)."""
    return slug(manifest.stem, 24)


def check_batch_id(batch_id: str) -> str:
    if not BATCH_ID_RE.match(batch_id):
        raise InvalidInput(
            "must be 1-24 letters, digits, '-', '_' or '.', starting with a letter or digit",
            argument="--batch-id",
            value=batch_id,
            fix="e.g. --batch-id release-42",
        )
    return batch_id


def derived_row_id(first_input: Path | None, content: dict[str, Any]) -> str:
    """A row without an ``id``: its first input's name and a digest of its content (``beach-3fa2b1c0``)."""
    stem = slug(first_input.stem, 20) if first_input is not None else "row"
    return f"{stem}-{digest(content)[:DIGEST_CHARS]}"


def job_id(batch_id: str, row_id: str, fingerprint: str, attempt: int = 1) -> str:
    """``<batch>-<row>-<digest>`` (at most 64 characters), ``.N`` added for attempt N > 1."""
    row_part = row_id
    if len(row_part) > _ROW_PART_MAX:  # long row ids keep their start and a digest of the whole
        row_part = f"{row_id[: _ROW_PART_MAX - DIGEST_CHARS - 1]}_{digest(row_id)[:DIGEST_CHARS]}"
    base = f"{batch_id}-{row_part}-{fingerprint[:DIGEST_CHARS]}"
    return base if attempt <= 1 else f"{base}.{attempt}"
