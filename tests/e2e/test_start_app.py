"""start_app.sh, for real: checks, background start with a pid file and a timestamped log, readiness,
status, the CI client against it, a taken port named with its holder, and stop by pid file."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import httpx
from live_server import ROOT, free_port, server_env

SCRIPT = ROOT / "start_app.sh"


def _run(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_start_status_submit_stop(tmp_path: Path, sample_image: Path) -> None:
    port = str(free_port())
    env = server_env(tmp_path, GENSERVE_PORT=port)  # not 7860: status, logs and submit find it anyway
    started = _run("api", env=env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"local:    http://127.0.0.1:{port}" in started.stdout and "/docs" in started.stdout
        pid = int((tmp_path / "data" / "app.pid").read_text())
        logs = list((tmp_path / "logs").glob("app_*.log"))
        assert len(logs) == 1 and re.fullmatch(r"app_\d{8}_\d{6}\.log", logs[0].name)
        assert (tmp_path / "outputs").is_dir()
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["ready"] is True
        assert (tmp_path / "data" / "app.url").read_text().strip() == f"http://127.0.0.1:{port}"
        plain = {k: v for k, v in env.items() if k != "GENSERVE_PORT"}  # another shell, no port given
        status = _run("status", env=plain)
        assert status.returncode == 0 and f"pid {pid}" in status.stdout, status.stdout
        assert f"ready at http://127.0.0.1:{port}" in status.stdout
        assert f"server at http://127.0.0.1:{port}" in _run("logs", env=plain).stdout
        again = _run("api", "--port", port, env=env)
        assert again.returncode == 1 and "already running" in again.stderr
        # the CI client: submit, follow, download; exit 0
        out = tmp_path / "artifacts"
        cli = subprocess.run(
            [
                str(ROOT / ".venv/bin/genserve"),
                "submit",
                "image-to-video",
                "--image",
                str(sample_image),
                "--set",
                "resolution=256p",
                "--set",
                "num_frames=2",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=plain,
        )
        assert cli.returncode == 0, cli.stderr
        job = json.loads(cli.stdout)
        assert job["status"] == "succeeded" and (out / "video.mp4").stat().st_size > 0
        # not a terminal: one line per change of state, no line per step, no colour codes
        assert "started" in cli.stderr and "completed: succeeded" in cli.stderr
        assert "progress" not in cli.stderr and "\x1b[" not in cli.stderr + started.stdout
        assert json.loads((out / "result.json").read_text())["id"] == job["id"]
        # JSON log lines in the timestamped log
        lines = [json.loads(x) for x in logs[0].read_text().splitlines() if x.startswith("{")]
        assert any(x.get("event") == "job finished" and x.get("job_id") == job["id"] for x in lines)
        # the readiness polls and page assets that succeeded are not in the log; the jobs are
        paths = [x.get("path") for x in lines if x.get("logger") == "genserve.http"]
        assert "/readyz" not in paths and "/v1/jobs" in paths
    finally:
        stopped = _run("stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not (tmp_path / "data" / "app.pid").exists() and not (tmp_path / "data" / "app.url").exists()
    # a restart right away: the port may be in TIME-WAIT, which the check and the server both accept
    restarted = _run("api", env=env)
    _run("stop", env=env)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
    assert _run("status", env=env).returncode == 1
    assert _run("logs", env=env).returncode == 0


def test_taken_port_names_its_holder(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _run("api", "--port", str(port), env=env)
    assert result.returncode == 1
    assert f"port {port} is taken by pid {os.getpid()}" in result.stderr
    assert f"--port {port + 1}" in result.stderr
    assert not (tmp_path / "data" / "app.pid").exists()


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    bad_port = _run("--port", "http", env=env)
    assert bad_port.returncode == 2
    # one plain line (not a terminal: no colour codes), not ending with the exit code
    assert bad_port.stderr == "[ERROR] --port must be a number from 1 to 65535, got 'http'\n"
    result = _run("dance", env=env)
    assert result.returncode == 2 and "--help" in result.stderr


def test_help_is_the_header_comment(tmp_path: Path) -> None:
    shown = _run("--help", env=server_env(tmp_path))
    assert shown.returncode == 0 and shown.stdout.startswith("genserve one-click start")
    assert "set -euo" not in shown.stdout and "./start_app.sh stop | status | logs" in shown.stdout


def test_client_exit_codes(tmp_path: Path, sample_image: Path) -> None:
    genserve = str(ROOT / ".venv/bin/genserve")
    dead = f"http://127.0.0.1:{free_port()}"
    down = subprocess.run(
        [genserve, "submit", "image-to-video", "--server", dead, "--image", str(sample_image)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 3 and "cannot reach the server" in down.stderr
    missing = subprocess.run(
        [genserve, "submit", "image-to-video", "--server", dead, "--image", str(tmp_path / "nope.jpg")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "--image" in missing.stderr
