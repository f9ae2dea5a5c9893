"""README.zh-CN.md's commands, run as written (the port, the data and output folders moved aside):
the quick start through ./start_app.sh, the three tasks on the CLI, the seed-compatible routes with
curl, and the gate; its scale-out block is the English README's, which test_readme_scale_out runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from live_server import ROOT, free_port, server_env

pytestmark = pytest.mark.slow

ZH = ROOT / "README.zh-CN.md"


def blocks(path: Path) -> dict[str, str]:
    """The first bash block under each '## ' heading."""
    found = {}
    for part in path.read_text(encoding="utf-8").split("\n## ")[1:]:
        heading, _, body = part.partition("\n")
        match = re.search(r"```bash\n(.*?)```", body, re.S)
        if match:
            found[heading.strip()] = match.group(1)
    return found


def run(commands: str, tmp: Path, port: int) -> subprocess.CompletedProcess[str]:
    commands = commands.replace("127.0.0.1:7860", f"127.0.0.1:{port}")
    for folder in ("outputs/quickstart", "gate-report"):
        commands = commands.replace(folder, str(tmp / folder))
    env = server_env(tmp, GENSERVE_PORT=str(port))
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"
    try:
        return subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{commands}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        if "start_app.sh" in commands:  # never leave a server behind
            subprocess.run(["./start_app.sh", "stop"], cwd=ROOT, env=env, capture_output=True, timeout=60)


def test_linked_from_the_english_readme() -> None:
    top = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## ", 1)[0]
    assert "(README.zh-CN.md)" in top
    assert set(blocks(ZH)) == {"快速开始", "三个任务", "兼容原文档的接口", "扩展到多台机器", "质量门禁"}


def test_quick_start_runs_as_written(tmp_path: Path) -> None:
    done = run(blocks(ZH)["快速开始"], tmp_path, free_port())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = tmp_path / "outputs" / "quickstart"
    assert json.loads((out / "result.json").read_text())["status"] == "succeeded"
    assert (out / "video.mp4").stat().st_size > 0


def test_the_three_tasks_run_as_written(tmp_path: Path) -> None:
    done = run(blocks(ZH)["三个任务"], tmp_path, free_port())
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(x) for x in re.findall(r"^\{.*?^\}", done.stdout, re.S | re.M)]
    tasks = [r["task"] for r in results]
    assert tasks == ["image-to-video", "talking-head", "recognize"], done.stdout[-2000:]
    assert all(r["status"] == "succeeded" for r in results)
    assert results[2]["text_blocks"]


def test_seed_routes_run_as_written(tmp_path: Path) -> None:
    done = run(blocks(ZH)["兼容原文档的接口"], tmp_path, free_port())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert re.search(r"\.mp4\s*$", done.stdout, re.M) and '"text"' in done.stdout


def test_scale_out_block_is_the_one_the_english_readme_runs() -> None:
    english = (ROOT / "README.md").read_text(encoding="utf-8")
    assert blocks(ZH)["扩展到多台机器"] in english


def test_gate_runs_as_written(tmp_path: Path) -> None:
    done = run(blocks(ZH)["质量门禁"], tmp_path, free_port())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert (tmp_path / "gate-report" / "results.json").is_file()
