"""Job output folders: written in a staging folder, moved into place only when the job succeeds."""

from __future__ import annotations

import hashlib
import mimetypes
import shutil
from datetime import UTC, datetime
from pathlib import Path

from genserve.tasks.base import OutputFile


class OutputFolder:
    """``<root>/.staging/<job_id>`` while running; ``<root>/<YYYY-MM-DD>/<job_id>`` once committed."""

    def __init__(self, root: Path, job_id: str) -> None:
        self.root = root
        self.job_id = job_id
        self.staging = root / ".staging" / job_id
        self.final = root / datetime.now(UTC).strftime("%Y-%m-%d") / job_id

    def open(self) -> Path:
        """An empty staging folder (one left by an earlier try is removed)."""
        try:
            self.staging.mkdir(parents=True)
        except FileExistsError:
            self.discard()
            self.staging.mkdir(parents=True)
        return self.staging

    def describe(self, path: Path) -> OutputFile:
        """An output entry for a staged file, with its final path."""
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return OutputFile(
            name=path.name,
            path=str(self.final / path.name),
            media_type=media_type,
            bytes=path.stat().st_size,
            sha256=digest.hexdigest(),
        )

    def commit(self) -> Path:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        if self.final.exists():
            shutil.rmtree(self.final)
        self.staging.rename(self.final)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
