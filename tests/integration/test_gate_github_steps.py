"""The GitHub Actions workflow that `genserve ci init github` writes, its `run:` steps executed here
in order: start `genserve serve`, wait for /readyz, run the weight-free suite through the server
(genserve.Client) against the committed baseline, stop the service."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import yaml

from genserve.gates.ci import render_pipeline

ROOT = Path(__file__).resolve().parents[2]
LOCAL_STEPS = (
    "Start the service",
    "Wait until the service is ready",
    "Run the quality gate",
    "Stop the service",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_github_workflow_steps_run_the_gate_through_a_real_server(tmp_path: Path) -> None:
    workflow = yaml.safe_load(
        render_pipeline("github", suite="qa/suites/weightfree.yaml", baseline="qa/baselines/weightfree.json")
    )
    job = workflow["jobs"]["gate"]
    steps = {s["name"]: s["run"] for s in job["steps"] if "name" in s and "run" in s}
    # a checkout of the repository: the workflow's paths are relative to it
    work = tmp_path / "checkout"
    work.mkdir()
    for name in (".venv", "qa", "scripts", "src"):
        (work / name).symlink_to(ROOT / name)
    summary = tmp_path / "step_summary.md"
    env = {
        **os.environ,
        **{k: str(v) for k, v in job["env"].items() if "${{" not in str(v)},
        "GENSERVE_PORT": str(_free_port()),
        "GENSERVE_OUTPUT_DIR": str(tmp_path / "service" / "outputs"),
        "GENSERVE_DATA_DIR": str(tmp_path / "service" / "data"),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_SHA": "0123456789abcdef",
        "GITHUB_ACTIONS": "true",
        # the job's container has genserve on PATH; here, this checkout's environment
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    }
    pid_file = work / "logs" / "serve.pid"
    try:
        for name in LOCAL_STEPS:
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", steps[name]],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
            )
            log = (work / "logs" / "serve.log").read_text() if (work / "logs" / "serve.log").exists() else ""
            assert done.returncode == 0, f"{name}: {done.stdout}\n{done.stderr}\n{log[-3000:]}"
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
    report = work / env["GATE_REPORT"]
    results = json.loads((report / "results.json").read_text())
    assert results["mode"] == "server" and results["server"].endswith(env["GENSERVE_PORT"])
    assert results["judgement"]["status"] == "pass"
    # the outputs were downloaded from the server and measured here
    talk = next(c for c in results["cases"] if c["name"] == "talking")["assets"][0]
    assert Path(talk["job"]["video"]).is_file() and str(report) in talk["job"]["video"]
    assert talk["metrics"]["av_offset"]["value"] <= 2
    assert results["provenance"]["git_commit"] == "0123456789abcdef"  # from the CI environment
    assert "genserve gate `weightfree`: ✅ pass" in summary.read_text()
