"""One bucket (and key prefix) in S3-compatible object storage: the signed client, the transfers, and
every failure as a :class:`BackendUnavailable` that names the bucket and the fix.

Endpoint, credentials and region come from the standard AWS variables, read by boto3 itself
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION`` — boto3 alone
reads only ``AWS_DEFAULT_REGION``; its session is told to read ``AWS_REGION`` first), or from boto3's
other sources (profiles, instance roles). Requests and presigned URLs are signed with SigV4, path-style.
The first transfer checks the bucket, so a missing bucket or a refused key says so before anything else.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from genserve.errors import BackendUnavailable, GenserveError, missing_extra

log = logging.getLogger("genserve.artifacts")

CREDENTIAL_CODES = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthorizationHeaderMalformed",
    "RequestTimeTooSkewed",
    "InvalidToken",
    "ExpiredToken",
}
MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
_UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError")


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


class S3Bucket:
    """``s3://<bucket>/<prefix>``: keys under the prefix, and the calls genserve makes on them."""

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket, self.prefix = bucket, prefix
        boto3, botocore_session, config_cls = _boto()
        # NOTE: botocore reads AWS_DEFAULT_REGION only; AWS_REGION (the one AWS's own runtimes set)
        # is added in front, still read by botocore, not by genserve
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

    # --- keys ----------------------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts] if self.prefix else parts)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # --- calls ---------------------------------------------------------------------------------

    def check(self) -> bool:
        """HEAD the bucket: True, or BackendUnavailable naming the bucket and the fix."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise self.error(exc, "bucket check", bucket_op=True) from None
        self._checked = True
        return True

    def ready(self) -> None:
        """The first use checks the bucket, so a missing bucket or a bad key says so clearly."""
        if not self._checked:
            self.check()

    def upload(self, src: Path, key: str, extra: dict[str, Any]) -> None:
        self.ready()
        try:
            self.client.upload_file(str(src), self.bucket, key, ExtraArgs=extra or None)
        except Exception as exc:
            raise self.error(exc, "upload", key=key) from None

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        self.ready()
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        except Exception as exc:
            raise self.error(exc, "upload", key=key) from None

    def download(self, key: str, dest: Path, *, missing: GenserveError) -> None:
        """The object into ``dest`` (removed on failure); ``missing`` is raised when there is none."""
        self.ready()
        try:
            self.client.download_file(self.bucket, key, str(dest))
        except Exception as exc:
            dest.unlink(missing_ok=True)
            if is_missing(exc):
                raise missing from None
            raise self.error(exc, "download", key=key) from None

    def head(self, key: str, *, missing: GenserveError) -> dict[str, Any]:
        self.ready()
        try:
            answer: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if is_missing(exc):
                raise missing from None
            raise self.error(exc, "read", key=key) from None
        return answer

    def presign(self, key: str, filename: str, ttl_s: int) -> str:
        """A GET URL valid for ``ttl_s`` seconds that names ``filename`` in Content-Disposition."""
        disposition = content_disposition(filename)
        params = {"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": disposition}
        try:
            url = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl_s)
        except Exception as exc:  # signing is local: only missing credentials fail here
            raise self.error(exc, "presign", key=key) from None
        return str(url)

    def list_keys(self, prefixes: list[str]) -> list[str]:
        self.ready()
        keys: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for prefix in prefixes:
                for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                    keys += [obj["Key"] for obj in page.get("Contents", [])]
        except Exception as exc:
            raise self.error(exc, "list") from None
        return keys

    def delete_keys(self, keys: list[str]) -> None:
        """Delete in batches of 1000; a key already gone is fine, any other refusal is an error."""
        if not keys:
            return
        self.ready()
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except Exception as exc:
                raise self.error(exc, "delete") from None
            failed = [e for e in answer.get("Errors", []) if e.get("Code") not in MISSING_CODES]
            if failed:
                first = failed[0]
                raise BackendUnavailable(
                    f"S3 refused to delete {len(failed)} object(s) in bucket '{self.bucket}': "
                    f"{first.get('Code')} {first.get('Message', '')}".strip(),
                    value=self.uri(str(first.get("Key"))),
                    fix=f"check that the key may delete objects under s3://{self.bucket}/{self.key('')}",
                )

    # --- errors --------------------------------------------------------------------------------

    def error(
        self, exc: Exception, action: str, *, key: str | None = None, bucket_op: bool = False
    ) -> GenserveError:
        """A boto3/botocore failure as a BackendUnavailable that names the bucket and the fix."""
        if isinstance(exc, GenserveError):
            return exc
        where = self.uri(key) if key else f"s3://{self.bucket}/{self.key('')}"
        code = error_code(exc)
        kind = type(exc).__name__
        if code == "NoSuchBucket" or (bucket_op and code in MISSING_CODES):
            return BackendUnavailable(
                f"the S3 bucket '{self.bucket}' does not exist at {self.endpoint}",
                argument="GENSERVE_ARTIFACTS_URL",
                fix=f"create the bucket (e.g. aws s3 mb s3://{self.bucket}), or point GENSERVE_ARTIFACTS_URL "
                "and AWS_ENDPOINT_URL at an existing one",
            )
        if code in CREDENTIAL_CODES:
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
        if kind in _UNREACHABLE:
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


def error_code(exc: Exception) -> str:
    """The S3 error code of a botocore ClientError (or of one wrapped by boto3's transfer errors)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    # boto3's S3UploadFailedError only keeps the text: "... An error occurred (Code) when calling ..."
    found = re.search(r"An error occurred \(([A-Za-z0-9]+)\)", str(exc))
    return found.group(1) if found else ""


def is_missing(exc: Exception) -> bool:
    return error_code(exc) in MISSING_CODES
