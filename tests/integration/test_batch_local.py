"""`genserve batch --local`: the batch runs in this process (the service with its own store under
<out>/_local), with the same reports and the same resume rules as against a server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import batch_backends
import pytest
import svc_backends  # noqa: F401 - registers noop and slow

from genserve.batch.board import Board
from genserve.batch.engine import BatchRun, Options
from genserve.batch.manifest import read_manifest
from genserve.batch.results import write_results
from genserve.batch.rows import validate_manifest
from genserve.batch.target import LocalTarget
from genserve.caller import SYSTEM
from genserve.config import Settings

ROOT = Path(__file__).resolve().parents[2]
QA = ROOT / "qa" / "assets"


def write_manifest(folder: Path) -> Path:
    shutil.copy(QA / "images" / "sample.jpg", folder / "sample.jpg")
    rows = [
        {"id": "zoom", "task": "image-to-video", "backend": "camera", "inputs": {"image": "sample.jpg"},
         "params": {"resolution": "256p", "num_frames": 4, "motion": "zoom_in", "seed": 1}},
        {"id": "noop", "task": "image-to-video", "backend": "noop", "inputs": {"image": "sample.jpg"}},
        {"id": "flaky", "task": "image-to-video", "backend": "flaky", "inputs": {"image": "sample.jpg"},
         "params": {"prompt": "fail now"}},
    ]  # fmt: skip
    path = folder / "local.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_here(settings: Settings, manifest: Path, out: Path, **options: object) -> tuple[Board, int]:
    target = LocalTarget(settings, out / "_local", workers=2)
    rows = validate_manifest(read_manifest(manifest), target.catalog(), settings)
    target.open()
    try:
        board = Board("local", rows, where=target.where)
        BatchRun(board, target, out, Options(**options)).run()  # type: ignore[arg-type]
        write_results(board, out)
        jobs, _ = target.service.list_jobs(SYSTEM, batch="local")
        return board, len(jobs)
    finally:
        target.close()


def test_a_local_batch_resumes_from_its_own_store(settings: Settings, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path)
    out = tmp_path / "out"
    board, jobs = run_here(settings, manifest, out)
    assert {s.row.id: s.status for s in board.states} == {
        "zoom": "succeeded",
        "noop": "succeeded",
        "flaky": "failed",
    }
    assert jobs == 3 and (out / "zoom" / "video.mp4").is_file()
    assert board.states[0].job is not None
    assert board.states[0].job["result"]["provenance"]["batch"] == {"id": "local", "row": "zoom"}
    # again, in a new process-like start: the store under out/_local knows the jobs
    board, jobs = run_here(settings, manifest, out)
    assert jobs == 3 and all(s.earlier for s in board.states)
    batch_backends.heal(out / "_local" / "data")
    board, jobs = run_here(settings, manifest, out, retry_failed=True)
    assert jobs == 4 and board.states[2].status == "succeeded" and board.states[2].attempt == 2


def test_the_cli_runs_a_batch_here(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path)
    env = {
        **os.environ,
        "GENSERVE_PLUGINS": "svc_backends,batch_backends",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "integration"), str(ROOT / "src")]),
        "GENSERVE_OUTPUT_DIR": str(tmp_path / "outputs"),
    }
    cmd = [sys.executable, "-m", "genserve", "batch", str(manifest), "--local", "--progress", "none"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 10, done.stderr  # the flaky row failed
    summary = json.loads(done.stdout)
    out = tmp_path / "outputs" / "batches" / "local"  # the default: <output dir>/batches/<batch id>
    assert summary["out"] == str(out) and summary["counts"] == {"succeeded": 2, "failed": 1}
    assert (out / "zoom" / "video.mp4").is_file() and (out / "index.html").is_file()
    done = subprocess.run(
        [*cmd, "--max-failures", "1"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0 and json.loads(done.stdout)["earlier_run"] == 3
    detach = subprocess.run(
        [*cmd, "--detach"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert detach.returncode == 2 and "--detach: needs --server" in detach.stderr


@pytest.mark.parametrize("args", [["--local", "--server", "http://127.0.0.1:1"], ["--batch-id", "-x"]])
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str]) -> None:
    manifest = write_manifest(tmp_path)
    cmd = [sys.executable, "-m", "genserve", "batch", str(manifest), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "Fix:" in done.stderr
