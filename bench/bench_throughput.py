"""Throughput: no-op jobs from many concurrent clients, genserve (local executor, SQLite and
PostgreSQL stores) beside LitServe wrapping the same no-op, measured in the same run.

    .venv/bin/python bench/bench_throughput.py [--clients 32] [--jobs 2000] [--seconds 30]
        [--store sqlite|postgresql|both]

Each client sends one request at a time on its own keep-alive connection and sends the next as soon
as the answer comes: for genserve ``POST /v1/jobs`` with ``Prefer: wait=30`` (the job is validated,
committed, claimed, run, and its result committed before the answer), for LitServe ``POST
/predict``. The same small JPEG each time. A server's figure is the jobs answered (succeeded)
per second of wall time, after ``--warmup`` jobs, up to ``--jobs`` jobs or ``--seconds``, whichever
comes first. The PostgreSQL round uses a database of its own, created and dropped here.

The clients are one asyncio loop writing prepared HTTP/1.1 requests on raw sockets, so that the
client costs little of the CPU the servers share with it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service_overhead import ROOT, SAMPLE, _free_port, _start, _stop

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def _multipart(fields: dict[str, str], name: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body = b"".join(parts) + head + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _request(path: str, body: bytes, content_type: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines += [f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _drive(
    port: int, request: bytes, check: Any, clients: int, warmup: int, jobs: int, seconds: float
) -> dict[str, float]:
    """``clients`` connections, each one request at a time; counts answers after the warmup."""
    done = 0
    started: float | None = None
    stop_at = float("inf")
    latencies: list[float] = []

    async def client() -> None:
        nonlocal done, started, stop_at
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while done < warmup + jobs and time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                status, body = await _exchange(reader, writer, request)
                if not check(status, body):
                    raise RuntimeError(f"bad answer {status}: {body[:300]!r}")
                done += 1
                if done == warmup:  # the measured window opens
                    started = time.perf_counter()
                    stop_at = started + seconds
                elif done > warmup:
                    latencies.append(time.perf_counter() - t0)
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    assert started is not None, "the warmup did not finish"
    wall = time.perf_counter() - started
    ms = sorted(v * 1000 for v in latencies)
    return {
        "jobs": len(ms),
        "seconds": round(wall, 2),
        "jobs_per_s": round(len(ms) / wall, 1),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1),
    }


def _genserve_ok(status: int, body: bytes) -> bool:
    return status == 200 and json.loads(body)["status"] == "succeeded"


def bench_genserve(
    args: argparse.Namespace, env: dict[str, str], tmp: Path, url: str | None
) -> dict[str, Any]:
    port = _free_port()
    genv = {
        **env,
        "GENSERVE_DATA_DIR": str(tmp / "data"),
        "GENSERVE_OUTPUT_DIR": str(tmp / "outputs"),
        "GENSERVE_PLUGINS": "bench_service_overhead",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "bench"), env.get("PYTHONPATH")) if p),
        "GENSERVE_LOG_LEVEL": "WARNING",
        "GENSERVE_WORKERS": str(args.workers),
    }
    if url:
        genv["GENSERVE_DATABASE_URL"] = url
    cmd = [str(ROOT / ".venv/bin/genserve"), "serve", "--mode", "api", "--port", str(port)]
    proc = _start(cmd, f"http://127.0.0.1:{port}/readyz", genv)
    body, ctype = _multipart(
        {"task": "image-to-video", "backend": "bench-noop"}, "image", "sample.jpg", SAMPLE.read_bytes()
    )
    request = _request("/v1/jobs", body, ctype, {"Prefer": "wait=30"})
    try:
        return asyncio.run(
            _drive(port, request, _genserve_ok, args.clients, args.warmup, args.jobs, args.seconds)
        )
    finally:
        _stop(proc)


def bench_litserve(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    port = _free_port()
    script = str(ROOT / "bench" / "bench_service_overhead.py")
    proc = _start(
        [sys.executable, script, "--serve", "litserve", "--port", str(port)],
        f"http://127.0.0.1:{port}/health",
        env,
    )
    body = json.dumps({"image": base64.b64encode(SAMPLE.read_bytes()).decode()}).encode()
    request = _request("/predict", body, "application/json", {})
    try:
        return asyncio.run(
            _drive(port, request, lambda s, _b: s == 200, args.clients, args.warmup, args.jobs, args.seconds)
        )
    finally:
        _stop(proc)


def _postgres_round(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    import sqlalchemy as sa

    db = f"genserve_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {db}"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return bench_genserve(args, env, Path(tmp), f"{PG_SERVER}/{db}")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clients", type=int, default=32, help="concurrent clients, one request each at a time"
    )
    parser.add_argument("--jobs", type=int, default=2000, help="measured jobs per server (at most)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per server (at most)")
    parser.add_argument("--warmup", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="genserve's GENSERVE_WORKERS")
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LITSERVE_TELEMETRY": "0"}
    rows: dict[str, dict[str, Any]] = {}
    if args.store in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            rows["genserve (SQLite)"] = bench_genserve(args, env, Path(tmp), None)
    if args.store in ("postgresql", "both"):
        rows["genserve (PostgreSQL)"] = _postgres_round(args, env)
    rows["litserve"] = bench_litserve(args, env)
    peer = rows["litserve"]["jobs_per_s"]
    print(f"throughput: {args.clients} concurrent clients, no-op jobs, genserve workers={args.workers}")
    print(f"{'server':<22} {'jobs':>6} {'jobs/s':>8} {'p50 ms':>8} {'p95 ms':>8}  {'vs LitServe':>11}")
    for name, row in rows.items():
        print(
            f"{name:<22} {row['jobs']:>6} {row['jobs_per_s']:>8.1f} {row['p50_ms']:>8.1f} "
            f"{row['p95_ms']:>8.1f}  {row['jobs_per_s'] / peer:>10.2f}x"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
