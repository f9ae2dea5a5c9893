"""A model load is bounded by GENSERVE_LOAD_TIMEOUT_S: the job fails with a teaching timeout, the
load goes on (never started twice), and the next job after it finishes finds the backend warm."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import slow_load_backend

from genserve.config import Settings
from genserve.jobs import JobRequest, run_job
from genserve.jobs.runner import BackendCache

HERE = Path(__file__).resolve().parent


def request(image: Path) -> JobRequest:
    return JobRequest(
        task="image-to-video", inputs={"image": image}, params={"prompt": "still"}, backend="slow-load"
    )


def test_slow_load_times_out_clearly_goes_on_and_is_loaded_once(
    settings: Settings, landscape_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENSERVE_TEST_LOAD_S", "1.5")
    limited = settings.model_copy(update={"load_timeout_s": 0.3})
    cache = BackendCache(2)
    started = time.monotonic()
    first = run_job(request(landscape_png), settings=limited, cache=cache)
    assert time.monotonic() - started < 1.2  # did not wait for the whole load
    assert first.status == "failed" and first.error == "timeout"
    assert first.message is not None
    assert "slow-load" in first.message and "over the limit of 0.3 s" in first.message
    assert "GENSERVE_LOAD_TIMEOUT_S" in first.message
    assert not any(Path(limited.output_dir).glob("*/*/result.json"))  # nothing half-written
    # still loading: the next job waits on the same load (no second one) and times out too
    second = run_job(request(landscape_png), settings=limited, cache=cache)
    assert second.error == "timeout"
    time.sleep(1.6)
    third = run_job(request(landscape_png), settings=limited, cache=cache)
    assert third.status == "succeeded", third.message
    assert third.timings.load is not None and third.timings.load >= 1.4  # the load it waited for
    fourth = run_job(request(landscape_png), settings=limited, cache=cache)
    assert fourth.status == "succeeded" and fourth.timings.load == 0.0  # warm
    assert slow_load_backend.loads(limited.data_dir) == 1


def test_cli_exits_with_the_timeout_while_a_load_hangs(cli_env: dict[str, str], landscape_png: Path) -> None:
    env = {
        **cli_env,
        "GENSERVE_PLUGINS": "slow_load_backend",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), cli_env.get("PYTHONPATH")])),
        "GENSERVE_TEST_LOAD_S": "3600",  # a download that never finishes
        "GENSERVE_LOAD_TIMEOUT_S": "1",
    }
    args = ["run", "image-to-video", "--image", str(landscape_png), "--prompt", "x", "--backend", "slow-load"]
    started = time.monotonic()
    cmd = [sys.executable, "-m", "genserve", *args, "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert time.monotonic() - started < 60  # the hung load thread does not keep the process alive
    assert proc.returncode == 3, proc.stderr
    assert "over the limit of 1 s" in proc.stderr and "Traceback" not in proc.stderr
