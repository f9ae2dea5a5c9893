"""Where a job's files live: inputs uploaded at submit, outputs written by the runner.

Executors reference jobs by id and reach their files only through an :class:`ArtifactStore`, so a
worker on another machine can use object storage where the local one uses a directory.
:func:`artifact_store` picks one from ``Settings.artifacts_url``: empty keeps files on this machine
(:class:`LocalArtifactStore`), ``s3://bucket/prefix`` puts them in S3-compatible object storage
(:class:`genserve.jobs.artifacts_s3.S3ArtifactStore`).

The life of a job's files, and who calls what:

- API, at submit: ``put_input`` for each upload (the spooled file is moved/uploaded), then
  ``input_paths`` to validate them, ``discard_inputs`` when the submission is refused.
- worker: ``input_paths`` → ``run_job`` → ``commit_outputs`` (the result as it is recorded) →
  ``release_inputs`` (always, in a ``finally``).
- API, downloads: ``download_url`` (a presigned URL to redirect to, or None) else ``output_path``.
- API, delete: ``delete`` with the outputs' recorded paths.
"""

from __future__ import annotations

import re
import secrets
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from genserve.config import Settings
from genserve.errors import GenserveError, NotFound

InputRefs = dict[str, list[str]]  # input name -> stored references, in order


class ArtifactStore(ABC):
    @abstractmethod
    def put_input(self, job_id: str, name: str, index: int, src: Path | bytes, suffix: str) -> str:
        """Keep an uploaded input: its bytes, or the file ``src`` (moved); returns its reference."""

    @abstractmethod
    def input_paths(self, job_id: str, refs: InputRefs) -> dict[str, list[Path]]:
        """Local paths of a job's inputs, for the runner (a remote store downloads them)."""

    @abstractmethod
    def output_path(self, job_id: str, stored_path: str) -> Path:
        """A local file for an output recorded in a result, checked to belong to this store."""

    @abstractmethod
    def discard_inputs(self, job_id: str, refs: InputRefs) -> None:
        """Remove inputs stored for a submission that was refused."""

    @abstractmethod
    def delete(self, job_id: str, output_paths: list[str]) -> None:
        """Remove a job's inputs and outputs."""

    @abstractmethod
    def commit_outputs(self, job_id: str, result: dict[str, Any]) -> dict[str, Any]:
        """Keep a finished job's outputs; returns the result to record (its outputs' ``path`` updated).

        Called by the worker after ``run_job``, with the result payload (JSON dict). A store that
        keeps files elsewhere moves them there and leaves nothing on the worker's disk."""

    @abstractmethod
    def download_url(self, job_id: str, stored_path: str, filename: str) -> str | None:
        """A URL the client may fetch the output from directly (time-limited), or None: stream it."""

    @abstractmethod
    def release_inputs(self, job_id: str) -> None:
        """The caller is done with the local input files ``input_paths`` gave it (never raises)."""

    @abstractmethod
    def check(self) -> bool:
        """True when the store is usable; raises BackendUnavailable saying what is wrong otherwise."""


class LocalArtifactStore(ArtifactStore):
    """Inputs under ``<data_dir>/inputs/<job_id>/``; outputs where the runner commits them."""

    def __init__(self, settings: Settings) -> None:
        self.inputs_root = (Path(settings.data_dir) / "inputs").resolve()
        self.outputs_root = Path(settings.output_dir).resolve()

    def put_input(self, job_id: str, name: str, index: int, src: Path | bytes, suffix: str) -> str:
        folder = self.inputs_root / job_id
        folder.mkdir(parents=True, exist_ok=True)
        safe_suffix = "".join(c for c in suffix.lower() if c.isalnum() or c == ".")[:10]
        # a random part keeps two concurrent submissions under one id (PUT retries) apart
        dest = folder / f"{name}_{index}_{secrets.token_hex(4)}{safe_suffix}"
        if isinstance(src, bytes):
            with dest.open("xb") as fh:
                fh.write(src)
        else:
            shutil.move(str(src), dest)
        return dest.name

    def input_paths(self, job_id: str, refs: InputRefs) -> dict[str, list[Path]]:
        folder = self.inputs_root / job_id
        paths = {name: [folder / ref for ref in names] for name, names in refs.items()}
        for files in paths.values():
            for path in files:
                if not path.is_file():
                    raise NotFound(
                        "the job's input file is gone",
                        argument="inputs",
                        value=path.name,
                        fix="submit the job again",
                    )
        return paths

    def output_path(self, job_id: str, stored_path: str) -> Path:
        path = Path(stored_path).resolve()
        if not path.is_relative_to(self.outputs_root) or job_id not in path.parts or not path.is_file():
            raise NotFound(
                "the artifact's file is not there",
                argument="name",
                fix="the job's outputs name the artifacts it has",
            )
        return path

    def discard_inputs(self, job_id: str, refs: InputRefs) -> None:
        folder = self.inputs_root / job_id
        for names in refs.values():
            for ref in names:
                (folder / Path(ref).name).unlink(missing_ok=True)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

    def delete(self, job_id: str, output_paths: list[str]) -> None:
        shutil.rmtree(self.inputs_root / job_id, ignore_errors=True)
        folders = {Path(p).resolve().parent for p in output_paths}
        for folder in folders:
            if folder.is_relative_to(self.outputs_root) and folder.name == job_id:
                shutil.rmtree(folder, ignore_errors=True)

    def commit_outputs(self, job_id: str, result: dict[str, Any]) -> dict[str, Any]:
        return result  # the runner already committed them under output_dir

    def download_url(self, job_id: str, stored_path: str, filename: str) -> str | None:
        return None

    def release_inputs(self, job_id: str) -> None:
        return None  # input_paths handed out the stored files themselves

    def check(self) -> bool:
        return True


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_PART = re.compile(r"^[A-Za-z0-9._-]+$")
_URL_FIX = "e.g. GENSERVE_ARTIFACTS_URL=s3://genserve-artifacts/jobs (or leave it empty for local files)"


def parse_artifacts_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → (bucket, prefix without slashes at either end; may be empty)."""
    rule = "must be empty or s3://bucket/prefix"
    if not url.startswith("s3://"):
        raise GenserveError(rule, argument="GENSERVE_ARTIFACTS_URL", value=url, fix=_URL_FIX)
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise GenserveError(
            f"{rule}; the bucket name is 3-63 lowercase letters, digits, '.' and '-'",
            argument="GENSERVE_ARTIFACTS_URL",
            value=url,
            fix=_URL_FIX,
        )
    prefix = prefix.strip("/")
    if prefix and not all(_PREFIX_PART.match(p) and p not in (".", "..") for p in prefix.split("/")):
        raise GenserveError(
            f"{rule}; the prefix is folder names of letters, digits, '.', '_' and '-' joined by '/'",
            argument="GENSERVE_ARTIFACTS_URL",
            value=url,
            fix=_URL_FIX,
        )
    return bucket, prefix


def artifact_store(settings: Settings) -> ArtifactStore:
    """The store ``Settings.artifacts_url`` names: empty → local folders; ``s3://bucket/prefix`` → S3."""
    url = settings.artifacts_url.strip()
    if not url:
        return LocalArtifactStore(settings)
    parse_artifacts_url(url)  # a bad URL is refused before boto3 is imported
    from genserve.jobs.artifacts_s3 import S3ArtifactStore

    return S3ArtifactStore(settings)
