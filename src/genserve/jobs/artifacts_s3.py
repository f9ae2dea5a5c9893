"""Job files in S3-compatible object storage (``GENSERVE_ARTIFACTS_URL=s3://bucket/prefix``).

Layout in the bucket::

    <prefix>/inputs/<job_id>/<name>_<index>_<random><suffix>   uploads, put there at submit
    <prefix>/<YYYY-MM-DD>/<job_id>/<name>                      outputs (metadata ``sha256``, ContentType)
    <prefix>/<YYYY-MM-DD>/<job_id>/result.json                 the result as recorded

The bucket itself (the signed client, transfers, errors that name the bucket and the fix) is
:class:`genserve.jobs.s3_bucket.S3Bucket`; this module is the artifact layout on top of it.

What stays on local disk (bounded, cleaned):

- uploads: ``put_input`` uploads the file the API spooled and removes it.
- inputs downloaded by ``input_paths`` (at submit for validation, on a worker to run the job) go to
  ``<data_dir>/spool/<host>-<pid>-<random>/<job_id>-<random>/``: one folder per call, removed by
  ``release_inputs`` / ``discard_inputs``; a process's spool folder is removed when it exits, and
  swept by the next store started on the host if the process died.
- outputs: ``commit_outputs`` uploads them and removes the job's output folder.
- ``output_path`` (only for ``Settings.artifact_download == "stream"``) downloads into an LRU cache,
  ``<data_dir>/cache/artifacts/<job_id>/<tag>/<name>`` (tag: the key and the object's ETag, so a
  rewritten object is fetched again), at most ``cache_bytes`` (2 GiB by default). A cache rather
  than a file deleted after the response: video players send many Range requests for one file, and
  each would otherwise download the whole object again. Files used in the last minute are never
  evicted (a response may still be opening them); ``delete`` drops the job's cached files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import threading
import time
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from genserve.config import Settings
from genserve.errors import GenserveError, NotFound
from genserve.jobs.artifacts import ArtifactStore, InputRefs, parse_artifacts_url
from genserve.jobs.s3_bucket import S3Bucket

CACHE_BYTES = 2 << 30  # stream-mode download cache, per data_dir
CACHE_KEEP_S = 60.0  # a cached file used this recently is never evicted
PART_STALE_S = 3600.0  # a half-downloaded cache file older than this is removed
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")  # a file name genserve made (ref, artifact)


class S3ArtifactStore(ArtifactStore):
    """Inputs and outputs in a bucket; workers and the API share nothing but the bucket."""

    def __init__(self, settings: Settings, *, cache_bytes: int = CACHE_BYTES) -> None:
        self.bucket, self.prefix = parse_artifacts_url(settings.artifacts_url.strip())
        self.url_ttl_s = settings.artifact_url_ttl_s
        self.outputs_root = Path(settings.output_dir).resolve()
        self.spool_root = (Path(settings.data_dir) / "spool").resolve()
        self.cache_root = (Path(settings.data_dir) / "cache" / "artifacts").resolve()
        self.cache_bytes = cache_bytes
        self.s3 = S3Bucket(self.bucket, self.prefix)
        self._lock = threading.Lock()
        self._local: dict[str, list[Path]] = {}  # job id -> folders input_paths filled
        self._spool: Path | None = None

    # --- the interface -------------------------------------------------------------------------

    def check(self) -> bool:
        """HEAD the bucket: True, or BackendUnavailable naming the bucket and the fix."""
        return self.s3.check()

    def put_input(self, job_id: str, name: str, index: int, src: Path | bytes, suffix: str) -> str:
        safe_suffix = "".join(c for c in suffix.lower() if c.isalnum() or c == ".")[:10]
        ref = f"{name}_{index}_{secrets.token_hex(4)}{safe_suffix}"
        self._check_name(ref, "inputs")
        if isinstance(src, bytes):
            self.s3.put_bytes(self._input_key(job_id, ref), src, "application/octet-stream")
        else:
            self.s3.upload(src, self._input_key(job_id, ref), {})
            src.unlink(missing_ok=True)
        return ref

    def input_paths(self, job_id: str, refs: InputRefs) -> dict[str, list[Path]]:
        if not any(refs.values()):
            return {name: [] for name in refs}
        folder = self._spool_dir() / f"{job_id}-{secrets.token_hex(4)}"
        folder.mkdir(parents=True)
        with self._lock:
            self._local.setdefault(job_id, []).append(folder)
        paths: dict[str, list[Path]] = {}
        try:
            for name, names in refs.items():
                paths[name] = []
                for ref in names:
                    self._check_name(ref, "inputs")
                    dest = folder / ref
                    self.s3.download(self._input_key(job_id, ref), dest, missing=_input_gone(ref))
                    paths[name].append(dest)
        except BaseException:
            self._drop_folder(job_id, folder)
            raise
        return paths

    def release_inputs(self, job_id: str) -> None:
        with self._lock:
            folders = self._local.pop(job_id, [])
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    def discard_inputs(self, job_id: str, refs: InputRefs) -> None:
        names = [Path(ref).name for refs_of in refs.values() for ref in refs_of]
        self.s3.delete_keys([self._input_key(job_id, name) for name in names])
        with self._lock:
            folders = list(self._local.get(job_id, []))
        for folder in folders:  # this submission's downloaded copies, not another's under the same id
            for name in names:
                (folder / name).unlink(missing_ok=True)
            if folder.is_dir() and not any(folder.iterdir()):
                self._drop_folder(job_id, folder)

    def commit_outputs(self, job_id: str, result: dict[str, Any]) -> dict[str, Any]:
        outputs = result.get("outputs") or []
        committed_outputs: list[dict[str, Any]] = []
        folders: dict[Path, str] = {}  # local output folder -> its date
        for output in outputs:
            path = str(output.get("path", ""))
            if path.startswith("s3://"):  # uploaded by an earlier call
                key = self._output_key(job_id, path)
                committed_outputs.append({**output, "key": key})
                continue
            name = str(output.get("name", ""))
            self._check_name(name, "outputs")
            local = Path(path).resolve()
            folder = local.parent
            if folder.name != job_id or not folder.is_relative_to(self.outputs_root):
                raise GenserveError(
                    "an output is not in the job's output folder",
                    argument="outputs",
                    value=path,
                    fix=f"outputs are committed under {self.outputs_root}/<date>/{job_id}/",
                )
            if not local.is_file():
                raise GenserveError(
                    "an output file is missing on this worker",
                    argument="outputs",
                    value=path,
                    fix="run the job again",
                )
            date = folder.parent.name if _DATE.match(folder.parent.name) else _today()
            key = self._key(date, job_id, name)
            extra = {
                "ContentType": output.get("media_type") or "application/octet-stream",
                "Metadata": {"sha256": str(output.get("sha256", ""))},
            }
            self.s3.upload(local, key, extra)
            committed_outputs.append({**output, "path": f"s3://{self.bucket}/{key}", "key": key})
            folders[folder] = date
        committed = {**result, "outputs": committed_outputs}
        for folder, date in folders.items():
            if (folder / "result.json").is_file():  # the runner's copy, rewritten with the keys
                body = json.dumps(committed, indent=2).encode()
                self.s3.put_bytes(self._key(date, job_id, "result.json"), body, "application/json")
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        return committed

    def download_url(self, job_id: str, stored_path: str, filename: str) -> str | None:
        return self.s3.presign(self._output_key(job_id, stored_path), filename, self.url_ttl_s)

    def output_path(self, job_id: str, stored_path: str) -> Path:
        key = self._output_key(job_id, stored_path)
        name = key.rsplit("/", 1)[1]
        head = self.s3.head(key, missing=_artifact_gone())
        size = int(head.get("ContentLength", -1))
        tag = hashlib.sha256(f"{key}\0{head.get('ETag', '')}".encode()).hexdigest()[:16]
        dest = self.cache_root / job_id / tag / name
        if dest.is_file() and dest.stat().st_size == size:
            with contextlib.suppress(OSError):
                os.utime(dest)  # most recently used
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.parent / f".{name}.{secrets.token_hex(4)}.part"
        try:
            self.s3.download(key, part, missing=_artifact_gone())
            os.replace(part, dest)
        finally:
            part.unlink(missing_ok=True)
        self._evict(keep=dest)
        return dest

    def delete(self, job_id: str, output_paths: list[str]) -> None:
        prefixes = {self._input_key(job_id, "")}
        for path in output_paths:
            if not str(path).startswith("s3://"):
                continue
            with contextlib.suppress(NotFound):
                prefixes.add(self._output_key(job_id, path).rsplit("/", 1)[0] + "/")
        self.s3.delete_keys(self.s3.list_keys(sorted(prefixes)))
        self.release_inputs(job_id)
        shutil.rmtree(self.cache_root / job_id, ignore_errors=True)

    # --- keys ----------------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return self.s3.key(*parts)

    def _input_key(self, job_id: str, ref: str) -> str:
        return self._key("inputs", job_id, ref)

    def uri(self, key: str) -> str:
        return self.s3.uri(key)

    def _output_key(self, job_id: str, stored_path: str) -> str:
        """The key of an output recorded as ``s3://bucket/<prefix>/<date>/<job_id>/<name>``, checked."""
        head = f"s3://{self.bucket}/{self._key('')}"
        rest = stored_path[len(head) :].split("/") if stored_path.startswith(head) else []
        if (
            len(rest) != 3
            or not _DATE.match(rest[0])
            or rest[1] != job_id
            or not _NAME.match(rest[2])
            or ".." in rest[2]
        ):
            raise _artifact_gone()
        return self._key(*rest)

    @staticmethod
    def _check_name(name: str, argument: str) -> None:
        if not _NAME.match(name) or ".." in name:
            raise GenserveError("is not a file name genserve made", argument=argument, value=name)

    # --- local folders -------------------------------------------------------------------------

    def _spool_dir(self) -> Path:
        """This process's folder for downloaded inputs; dead processes' folders are swept first."""
        with self._lock:
            if self._spool is None:
                self._sweep_spool()
                host = socket.gethostname()
                spool = self.spool_root / f"{host}-{os.getpid()}-{secrets.token_hex(4)}"
                spool.mkdir(parents=True)
                weakref.finalize(self, shutil.rmtree, str(spool), True)
                self._spool = spool
            return self._spool

    def _sweep_spool(self) -> None:
        if not self.spool_root.is_dir():
            return
        host = socket.gethostname()
        for folder in self.spool_root.iterdir():
            owner, _, _random = folder.name.rpartition("-")  # <host>-<pid>-<random>
            owner_host, _, pid = owner.rpartition("-")
            if owner_host == host and pid.isdigit() and not psutil.pid_exists(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)

    def _drop_folder(self, job_id: str, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        with self._lock:
            folders = self._local.get(job_id, [])
            if folder in folders:
                folders.remove(folder)
            if not folders:
                self._local.pop(job_id, None)

    def _evict(self, keep: Path) -> None:
        """Least recently used cache files out until the cache fits ``cache_bytes``."""
        now = time.time()
        files: list[tuple[float, int, Path]] = []
        for path in self.cache_root.rglob("*"):
            try:
                st = path.stat()
            except OSError:
                continue
            if not path.is_file():
                continue
            if path.name.endswith(".part"):
                if now - st.st_mtime > PART_STALE_S:
                    path.unlink(missing_ok=True)
                continue
            files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for mtime, size, path in sorted(files):
            if total <= self.cache_bytes:
                break
            if path == keep or now - mtime < CACHE_KEEP_S:
                continue
            path.unlink(missing_ok=True)
            total -= size
            for parent in (path.parent, path.parent.parent):
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only when empty


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _input_gone(ref: str) -> NotFound:
    return NotFound("the job's input file is gone", argument="inputs", value=ref, fix="submit the job again")


def _artifact_gone() -> NotFound:
    return NotFound(
        "the artifact's file is not there", argument="name", fix="the job's outputs name the artifacts it has"
    )
