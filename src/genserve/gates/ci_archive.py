"""`genserve ci upload`: a pipeline's reports, outputs and logs copied to S3-compatible storage with
genserve's own S3 client (the `s3` extra, in the genserve image), so no pipeline needs the aws CLI.

``s3://bucket/prefix`` gets ``<prefix>/<directory name>/<path inside it>`` for each directory given.
Endpoint, credentials and region come from the standard AWS variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``), read by boto3 itself, as for
job artifacts. Directories that do not exist are skipped and named (a gate that never started
leaves no report; its logs still go up); with none there, nothing is uploaded and that is no error.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from genserve.errors import BackendUnavailable, GenserveError, InvalidInput, missing_extra
from genserve.jobs.artifacts import parse_artifacts_url


def _client() -> Any:
    try:
        import boto3
        import botocore.session
        from botocore.config import Config
    except ImportError:
        raise missing_extra("boto3", "s3") from None
    # NOTE: botocore reads AWS_DEFAULT_REGION only; AWS_REGION is put in front (as the artifact store does)
    core = botocore.session.Session(
        session_vars={"region": ("region", ["AWS_REGION", "AWS_DEFAULT_REGION"], None, None)}
    )
    return boto3.session.Session(botocore_session=core).client(
        "s3",
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


def upload_dirs(
    dirs: Iterable[Path],
    url: str,
    *,
    client: Any = None,
    on_skip: Callable[[Path], None] | None = None,
) -> list[str]:
    """Upload every file under each of DIRS to URL (s3://bucket/prefix); return the keys written."""
    try:
        bucket, prefix = parse_artifacts_url(url.strip())
    except GenserveError as exc:
        raise InvalidInput(
            exc.reason, argument="--to", value=url, fix="e.g. --to s3://ci-reports/genserve/$COMMIT"
        ) from None
    dirs = [Path(d) for d in dirs]
    present = [d for d in dirs if d.is_dir()]
    for d in dirs:
        if not d.is_dir() and on_skip is not None:
            on_skip(d)
    if not present:  # a gate that never started: nothing to keep, and not a second failure
        return []
    s3 = client if client is not None else _client()
    keys: list[str] = []
    for root in present:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            key = "/".join(
                part for part in (prefix, root.resolve().name, path.relative_to(root).as_posix()) if part
            )
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            try:
                s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": kind})
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                raise BackendUnavailable(
                    f"upload of {path} to s3://{bucket}/{key} failed ({code})",
                    fix="check AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket",
                ) from None
            keys.append(key)
    return keys
