"""The README's "Scaling out" commands, run as written (ports, folder and database moved aside so
that the test disturbs nothing): an S3 server, an API and two workers, a job through them."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
from pathlib import Path

import pytest
from live_server import ROOT, free_port

pytestmark = pytest.mark.slow


def readme_block(section: str) -> str:
    text = (ROOT / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", body, re.S)
    assert match, f"no bash block under '## {section}'"
    return match.group(1)


def s3_port() -> int:
    """A free port below 55000 whose neighbours are free too: SeaweedFS also listens on the next
    three and on each of those plus 10000 (gRPC)."""
    for _ in range(50):
        port = random.randrange(20000, 45000)
        wanted = [port, port + 1, port + 2, port + 3, *(p + 10000 for p in (port + 1, port + 2, port + 3))]
        if all(_free(p) for p in wanted):
            return port
    raise RuntimeError("no free ports for the S3 server")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_scaling_out_commands_run_as_written(tmp_path: Path) -> None:
    api_port = free_port()
    db = f"genserve_readme_{os.getpid()}"
    commands = readme_block("Scaling out").replace("127.0.0.1:7870", f"127.0.0.1:{api_port}")
    commands = commands.replace("outputs/scaled", str(tmp_path / "scaled"))
    env = {
        **os.environ,
        "SCALE_OUT_DIR": str(tmp_path / "cluster"),
        "SCALE_OUT_API_PORT": str(api_port),
        "SCALE_OUT_S3_PORT": str(s3_port()),
        "SCALE_OUT_DB": db,
    }
    script = f"set -euo pipefail\ntrap 'scripts/scale_out.sh down >/dev/null 2>&1 || true' EXIT\n{commands}"
    try:
        done = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
        )
    finally:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--force", db], capture_output=True)
    assert done.returncode == 0, done.stderr[-3000:]
    job = json.loads((tmp_path / "scaled" / "result.json").read_text())
    result = job["result"]
    assert result["status"] == "succeeded" and result["outputs"][0]["path"].startswith("s3://genserve/")
    assert (tmp_path / "scaled" / "video.mp4").stat().st_size == result["outputs"][0]["bytes"]
    api_files = list((tmp_path / "cluster" / "api").rglob("*.mp4"))
    assert api_files == [], "the API keeps no job files"
