"""Job files in S3-compatible object storage (``GENSERVE_ARTIFACTS_URL=s3://bucket/prefix``).

Layout in the bucket::

    <prefix>/inputs/<job_id>/<name>_<index>_<random><suffix>   uploads, put there at submit
    <prefix>/<YYYY-MM-DD>/<job_id>/<name>                      outputs (metadata ``sha256``, ContentType)
    <prefix>/<YYYY-MM-DD>/<job_id>/result.json                 the result as recorded

Endpoint, credentials and region come from the standard AWS variables, read by boto3 itself
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION`` — boto3 alone
reads only ``AWS_DEFAULT_REGION``; its session is told to read ``AWS_REGION`` first), or from boto3's
other sources (profiles, instance roles). Requests and presigned URLs are signed with SigV4, path-style.

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
import logging
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
from urllib.parse import quote

import psutil

from genserve.config import Settings
from genserve.errors import BackendUnavailable, GenserveError, NotFound, missing_extra
from genserve.jobs.artifacts import ArtifactStore, InputRefs, parse_artifacts_url

log = logging.getLogger("genserve.artifacts")

CACHE_BYTES = 2 << 30  # stream-mode download cache, per data_dir
CACHE_KEEP_S = 60.0  # a cached file used this recently is never evicted
PART_STALE_S = 3600.0  # a half-downloaded cache file older than this is removed
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")  # a file name genserve made (ref, artifact)
_CREDENTIAL_CODES = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthorizationHeaderMalformed",
    "RequestTimeTooSkewed",
    "InvalidToken",
    "ExpiredToken",
}
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


def _boto() -> tuple[Any, Any, Any]:
    try:
        import boto3
        import botocore.session
        from botocore.config import Config
    except ImportError:
        raise missing_extra("boto3", "s3") from None
    return boto3, botocore.session, Config


def content_disposition(filename: str) -> str:
    """``inline`` with the file name, as the API's own file responses send it (RFC 6266/5987)."""
    quoted = quote(filename)
    if quoted != filename:
        return f"inline; filename*=utf-8''{quoted}"
    return f'inline; filename="{filename}"'


class S3ArtifactStore(ArtifactStore):
    """Inputs and outputs in a bucket; workers and the API share nothing but the bucket."""

    def __init__(self, settings: Settings, *, cache_bytes: int = CACHE_BYTES) -> None:
        self.bucket, self.prefix = parse_artifacts_url(settings.artifacts_url.strip())
        self.url_ttl_s = settings.artifact_url_ttl_s
        self.outputs_root = Path(settings.output_dir).resolve()
        self.spool_root = (Path(settings.data_dir) / "spool").resolve()
        self.cache_root = (Path(settings.data_dir) / "cache" / "artifacts").resolve()
        self.cache_bytes = cache_bytes
        boto3, botocore_session, config_cls = _boto()
        # NOTE: botocore reads AWS_DEFAULT_REGION only; AWS_REGION (the variable, and the
        # one AWS's own runtimes set) is added in front, still read by botocore, not by genserve
        core = botocore_session.Session(
            session_vars={"region": ("region", ["AWS_REGION", "AWS_DEFAULT_REGION"], None, None)}
        )
        self.client = boto3.session.Session(botocore_session=core).client(
            "s3",
            config=config_cls(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
            ),
        )
        self.endpoint = str(self.client.meta.endpoint_url)
        self._checked = False
        self._lock = threading.Lock()
        self._local: dict[str, list[Path]] = {}  # job id -> folders input_paths filled
        self._spool: Path | None = None

    # --- the interface -------------------------------------------------------------------------

    def check(self) -> bool:
        """HEAD the bucket: True, or BackendUnavailable naming the bucket and the fix."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise self._error(exc, "bucket check", bucket_op=True) from None
        self._checked = True
        return True

    def put_input(self, job_id: str, name: str, index: int, src: Path, suffix: str) -> str:
        safe_suffix = "".join(c for c in suffix.lower() if c.isalnum() or c == ".")[:10]
        ref = f"{name}_{index}_{secrets.token_hex(4)}{safe_suffix}"
        self._check_name(ref, "inputs")
        self._upload(Path(src), self._input_key(job_id, ref), {})
        Path(src).unlink(missing_ok=True)
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
                    self._download(self._input_key(job_id, ref), dest, missing=_input_gone(ref))
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
        self._delete_keys([self._input_key(job_id, name) for name in names])
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
            self._upload(local, key, extra)
            committed_outputs.append({**output, "path": f"s3://{self.bucket}/{key}", "key": key})
            folders[folder] = date
        committed = {**result, "outputs": committed_outputs}
        for folder, date in folders.items():
            if (folder / "result.json").is_file():  # the runner's copy, rewritten with the keys
                body = json.dumps(committed, indent=2).encode()
                self._put_bytes(self._key(date, job_id, "result.json"), body, "application/json")
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        return committed

    def download_url(self, job_id: str, stored_path: str, filename: str) -> str | None:
        key = self._output_key(job_id, stored_path)
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": content_disposition(filename),
        }
        try:
            url = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=self.url_ttl_s)
        except Exception as exc:  # signing is local: only missing credentials fail here
            raise self._error(exc, "presign", key=key) from None
        return str(url)

    def output_path(self, job_id: str, stored_path: str) -> Path:
        key = self._output_key(job_id, stored_path)
        name = key.rsplit("/", 1)[1]
        self._ready()
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _missing(exc):
                raise _artifact_gone() from None
            raise self._error(exc, "read", key=key) from None
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
            self._download(key, part, missing=_artifact_gone())
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
        self._ready()
        keys: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for prefix in sorted(prefixes):
                for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                    keys += [obj["Key"] for obj in page.get("Contents", [])]
        except Exception as exc:
            raise self._error(exc, "list") from None
        self._delete_keys(keys)
        self.release_inputs(job_id)
        shutil.rmtree(self.cache_root / job_id, ignore_errors=True)

    # --- keys ----------------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts] if self.prefix else parts)

    def _input_key(self, job_id: str, ref: str) -> str:
        return self._key("inputs", job_id, ref)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

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

    # --- transfers -----------------------------------------------------------------------------

    def _ready(self) -> None:
        """The first use checks the bucket, so a missing bucket or a bad key says so clearly."""
        if not self._checked:
            self.check()

    def _upload(self, src: Path, key: str, extra: dict[str, Any]) -> None:
        self._ready()
        try:
            self.client.upload_file(str(src), self.bucket, key, ExtraArgs=extra or None)
        except Exception as exc:
            raise self._error(exc, "upload", key=key) from None

    def _put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        self._ready()
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        except Exception as exc:
            raise self._error(exc, "upload", key=key) from None

    def _download(self, key: str, dest: Path, *, missing: GenserveError) -> None:
        self._ready()
        try:
            self.client.download_file(self.bucket, key, str(dest))
        except Exception as exc:
            dest.unlink(missing_ok=True)
            if _missing(exc):
                raise missing from None
            raise self._error(exc, "download", key=key) from None

    def _delete_keys(self, keys: list[str]) -> None:
        if not keys:
            return
        self._ready()
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except Exception as exc:
                raise self._error(exc, "delete") from None
            failed = [e for e in answer.get("Errors", []) if e.get("Code") not in _MISSING_CODES]
            if failed:
                first = failed[0]
                raise BackendUnavailable(
                    f"S3 refused to delete {len(failed)} object(s) in bucket '{self.bucket}': "
                    f"{first.get('Code')} {first.get('Message', '')}".strip(),
                    value=self.uri(str(first.get("Key"))),
                    fix=f"check that the key may delete objects under s3://{self.bucket}/{self._key('')}",
                )

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

    # --- errors --------------------------------------------------------------------------------

    def _error(
        self, exc: Exception, action: str, *, key: str | None = None, bucket_op: bool = False
    ) -> GenserveError:
        """A boto3/botocore failure as a BackendUnavailable that names the bucket and the fix."""
        if isinstance(exc, GenserveError):
            return exc
        where = self.uri(key) if key else f"s3://{self.bucket}/{self._key('')}"
        code = _code(exc)
        kind = type(exc).__name__
        if code == "NoSuchBucket" or (bucket_op and code in _MISSING_CODES):
            return BackendUnavailable(
                f"the S3 bucket '{self.bucket}' does not exist at {self.endpoint}",
                argument="GENSERVE_ARTIFACTS_URL",
                fix=f"create the bucket (e.g. aws s3 mb s3://{self.bucket}), or point GENSERVE_ARTIFACTS_URL "
                "and AWS_ENDPOINT_URL at an existing one",
            )
        if code in _CREDENTIAL_CODES:
            return BackendUnavailable(
                f"S3 at {self.endpoint} refused genserve's credentials for bucket '{self.bucket}' ({code})",
                argument="AWS_ACCESS_KEY_ID",
                fix="check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that this key may read, write "
                f"and delete under {where}",
            )
        if kind in ("NoCredentialsError", "PartialCredentialsError"):
            return BackendUnavailable(
                f"no S3 credentials for bucket '{self.bucket}'",
                argument="AWS_ACCESS_KEY_ID",
                fix="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an AWS profile or role)",
            )
        if kind in (
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ConnectionClosedError",
        ):
            return BackendUnavailable(
                f"the S3 endpoint {self.endpoint} did not answer ({kind}) for bucket '{self.bucket}'",
                argument="AWS_ENDPOINT_URL",
                fix="check that the S3 server runs and that AWS_ENDPOINT_URL points at it",
            )
        log.warning("S3 %s of %s failed: %s", action, where, exc)
        return BackendUnavailable(
            f"S3 {action} of {where} failed ({code or kind})",
            fix="check the S3 server's health and logs; the request was retried",
        )


def _code(exc: Exception) -> str:
    """The S3 error code of a botocore ClientError (or of one wrapped by boto3's transfer errors)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    # boto3's S3UploadFailedError only keeps the text: "... An error occurred (Code) when calling ..."
    found = re.search(r"An error occurred \(([A-Za-z0-9]+)\)", str(exc))
    return found.group(1) if found else ""


def _missing(exc: Exception) -> bool:
    return _code(exc) in _MISSING_CODES


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _input_gone(ref: str) -> NotFound:
    return NotFound("the job's input file is gone", argument="inputs", value=ref, fix="submit the job again")


def _artifact_gone() -> NotFound:
    return NotFound(
        "the artifact's file is not there", argument="name", fix="GET /v1/jobs/{id} lists the outputs"
    )
