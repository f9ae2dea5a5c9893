"""One exit-code table for every door (README, "CLI"; genserve.errors.ExitCode): the same failure
gives the same code from `genserve run` (in process), `genserve submit --wait` (on a real server,
the failed job's ``error`` mapped back) and `genserve gate run` (--local and --server)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from live_server import ROOT, LiveServer

from genserve.errors import ExitCode

GENSERVE = str(ROOT / ".venv" / "bin" / "genserve")
ASSETS = ROOT / "qa" / "assets"

# (the failure, what provokes it, its code, a word its message carries)
FAILURES = [
    ("out-of-memory", ["--backend", "oom"], {}, ExitCode.OUT_OF_MEMORY, "out of memory"),
    ("invalid-input", ["--backend", "noop", "--set", "num_frames=0"], {"num_frames": 0}, 2, "num_frames"),
    ("not-found", ["--backend", "sora"], {}, ExitCode.INVALID_INPUT, "unknown backend"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("codes")).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT / "tests" / "integration"), str(ROOT / "src")])
    return {
        **os.environ,
        "GENSERVE_OUTPUT_DIR": str(tmp_path / "outputs"),
        "GENSERVE_DATA_DIR": str(tmp_path / "data"),
        "GENSERVE_PLUGINS": "svc_backends",
        "PYTHONPATH": path,
        "OMP_NUM_THREADS": "1",
    }


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GENSERVE, *args], capture_output=True, text=True, timeout=120, env=env)


def suite(tmp_path: Path, backend: str, params: dict[str, object], required: bool = False) -> Path:
    doc = {
        "name": "codes",
        "assets": str(ASSETS),
        "cases": [
            {
                "name": "one",
                "task": "image-to-video",
                "backend": backend,
                "params": params,
                "assets": [{"id": "sample", "image": "images/sample.jpg"}],
            }
        ],
        "checks": [{"metric": "codec_ok", "min": 1, "required": required}],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("args", "params", "code", "said"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_the_same_failure_exits_the_same_at_every_door(
    server: LiveServer,
    env: dict[str, str],
    tmp_path: Path,
    sample_image: Path,
    args: list[str],
    params: dict[str, object],
    code: int,
    said: str,
) -> None:
    job = ["image-to-video", "--image", str(sample_image), *args, "-q"]
    here = cli("run", *job, env=env)
    there = cli("submit", *job, "--server", server.url, "--wait", env=env)
    backend = args[1]
    gate_suite = suite(tmp_path, backend, params)
    gated = {
        where: cli("gate", "run", str(gate_suite), *how, "--report-dir", str(tmp_path / where), env=env)
        for where, how in (("local", ["--local"]), ("server", ["--server", server.url]))
    }
    codes = {
        "run": here.returncode,
        "submit --wait": there.returncode,
        **{f"gate --{w}": p.returncode for w, p in gated.items()},
    }
    assert codes == dict.fromkeys(codes, int(code)), (codes, here.stderr, there.stderr, gated["local"].stdout)
    for proc in (here, there, *gated.values()):
        assert said in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    if backend == "oom":  # the job ran and failed on the server: its record's error gave the code
        assert json.loads(there.stdout)["error"] == "out_of_memory"


def test_a_regression_is_the_gate_failed_code(env: dict[str, str], tmp_path: Path) -> None:
    """Jobs that succeeded but outputs that break a check: 9, apart from every error's code."""
    path = suite(tmp_path, "noop", {}, required=True)  # noop writes no video: codec_ok cannot pass
    proc = cli("gate", "run", str(path), "--local", "--report-dir", str(tmp_path / "r"), env=env)
    assert proc.returncode == ExitCode.GATE_FAILED == 9, proc.stdout + proc.stderr
    assert "FAIL codec_ok" in proc.stderr
