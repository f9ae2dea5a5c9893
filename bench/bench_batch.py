"""A batch through `genserve batch` beside the same jobs through a shell loop of `genserve submit
--wait --out`, against one server, in the same run.

    .venv/bin/python bench/bench_batch.py [--rows 200] [--concurrency 8] [--workers 2]

Every job is a real camera clip (256p, 8 frames, 8 fps, its own seed, so no two jobs are the same)
whose video is downloaded. The loop is what a pipeline writes without batches: one `genserve submit`
process per row, each waiting for its job and downloading it before the next starts. The batch is one
`genserve batch MANIFEST --server URL --concurrency N` with the same rows (other seeds: new jobs).
Prints both wall times, rows per minute, the ratio loop / batch, and the wall time of running the
finished batch again (nothing is submitted: every row is found done, its video already downloaded).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "genserve" / "data" / "sample.jpg"
GENSERVE = ROOT / ".venv" / "bin" / "genserve"
PARAMS = {"resolution": "256p", "num_frames": 8, "fps": 8, "motion": "zoom_in"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "GENSERVE_DATA_DIR": str(tmp / "data"),
        "GENSERVE_OUTPUT_DIR": str(tmp / "outputs"),
        "GENSERVE_WORKERS": str(workers),
        "OMP_NUM_THREADS": "1",
    }
    log = (tmp / "server.log").open("wb")
    cmd = [str(GENSERVE), "serve", "--mode", "api", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"server not ready: {(tmp / 'server.log').read_text()[-2000:]}")


def shell_loop(url: str, rows: int, out: Path) -> float:
    """`genserve submit --wait --out` once per row, one after the other (as a pipeline's for loop)."""
    lines = [
        f"{GENSERVE} submit image-to-video --server {url} --image {SAMPLE} --backend camera "
        + " ".join(f"--set {k}={v}" for k, v in {**PARAMS, "seed": i}.items())
        + f" --wait --quiet --out {out / f'row-{i}'} > /dev/null 2>&1"
        for i in range(rows)
    ]
    script = "set -euo pipefail\n" + "\n".join(lines)
    t0 = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True)
    return time.perf_counter() - t0


def batch(url: str, rows: int, out: Path, concurrency: int) -> float:
    manifest = out / "bench.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE, out / "sample.jpg")
    manifest.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"row-{i}",
                    "task": "image-to-video",
                    "backend": "camera",
                    "inputs": {"image": "sample.jpg"},
                    "params": {**PARAMS, "seed": 100_000 + i},
                }
            )
            + "\n"
            for i in range(rows)
        )
    )
    cmd = [str(GENSERVE), "batch", str(manifest), "--server", url, "--out", str(out / "results")]
    cmd += ["--concurrency", str(concurrency), "--progress", "none"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"batch failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    counts = json.loads(done.stdout)["counts"]
    assert counts == {"succeeded": rows}, counts
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="GENSERVE_WORKERS of the server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp_name:
        tmp = Path(tmp_name)
        proc, url = start_server(tmp, args.workers)
        try:
            # warm the camera backend once, so neither side pays the first load
            batch(url, 1, tmp / "warm", 1)
            loop_s = shell_loop(url, args.rows, tmp / "loop")
            batch_s = batch(url, args.rows, tmp / "batch", args.concurrency)
            rerun_s = batch(url, args.rows, tmp / "batch", args.concurrency)  # every row found done
        finally:
            proc.terminate()
            proc.wait(30)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "server_workers": args.workers,
                "concurrency": args.concurrency,
                "loop_s": round(loop_s, 2),
                "batch_s": round(batch_s, 2),
                "loop_rows_per_min": round(args.rows / loop_s * 60, 1),
                "batch_rows_per_min": round(args.rows / batch_s * 60, 1),
                "loop_over_batch": round(loop_s / batch_s, 2),
                "batch_rerun_s": round(rerun_s, 2),
                "cpu_count": os.cpu_count(),
                "python": sys.version.split()[0],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
