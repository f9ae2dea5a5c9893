"""`genserve submit` and `genserve jobs` against a real server: the wait's timeout, the exit codes of
the README's table (the same as `genserve run` for the same failure), fixes in the CLI's words, the
jobs commands a newcomer reaches for."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import ROOT, LiveServer

GENSERVE = str(ROOT / ".venv" / "bin" / "genserve")
SPEECH = ROOT / "tests" / "assets" / "speech.wav"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("submit")).start()
    try:
        yield live
    finally:
        live.stop()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GENSERVE, *args], capture_output=True, text=True, timeout=120, env=env)


def test_wait_timeout_is_honoured_with_exit_3(server: LiveServer, sample_image: Path) -> None:
    started = time.monotonic()
    proc = cli(
        "submit", "image-to-video", "--server", server.url, "--image", str(sample_image),
        "--backend", "slow", "--set", "steps=60", "--wait", "--timeout", "1",
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert time.monotonic() - started < 5  # the job takes 6 s: the wait stopped at its timeout
    assert "did not finish within 1 s" in proc.stderr and "genserve jobs show" in proc.stderr


def test_same_failure_same_exit_code_as_run(
    server: LiveServer, landscape_png: Path, cli_env: dict[str, str]
) -> None:
    """A picture with no face is refused input: exit 2 from `run` and from `submit --wait` alike."""
    args = [
        "talking-head",
        "--image",
        str(landscape_png),
        "--audio",
        str(SPEECH),
        "--set",
        "min_resolution=256",
    ]
    here = cli("run", *args, "-q", env=cli_env)
    there = cli("submit", *args, "--server", server.url, "--wait", "-q")
    assert here.returncode == there.returncode == 2, (here.stderr, there.stderr)
    assert "no face found" in here.stderr and "no face found" in there.stderr
    assert json.loads(there.stdout)["error"] == "invalid_input"


def test_fixes_are_in_the_clis_words(server: LiveServer, tmp_path: Path) -> None:
    missing = cli("jobs", "show", "nope", "--server", server.url)
    assert missing.returncode == 2 and "`genserve jobs list` shows your jobs" in missing.stderr
    assert "GET /v1" not in missing.stderr
    text = tmp_path / "my notes.png"
    text.write_text("not a picture")
    refused = cli("submit", "recognize", "--server", server.url, "--image", str(text))
    assert refused.returncode == 2 and "'my notes.png'" in refused.stderr, refused.stderr
    assert "image_0_" not in refused.stderr


def test_a_refused_key_names_the_option(tmp_path: Path, sample_image: Path) -> None:
    guarded = LiveServer(tmp_path, GENSERVE_API_KEYS="right-key").start()
    try:
        proc = cli("jobs", "list", "--server", guarded.url, "--api-key", "wrong")
    finally:
        guarded.stop()
    assert proc.returncode == 7
    assert "--api-key: the API key is not valid" in proc.stderr and "pass --api-key KEY" in proc.stderr
    assert "Authorization" not in proc.stderr


def test_jobs_commands(server: LiveServer, sample_image: Path, tmp_path: Path) -> None:
    empty = cli("jobs", "list", "--server", server.url, "--task", "recognize", "--status", "canceled")
    assert (
        empty.returncode == 0 and empty.stdout.strip() == "no jobs match --status canceled --task recognize"
    )
    unknown = cli("jobs", "list", "--server", server.url, "--task", "foo")
    assert unknown.returncode == 2 and "task: is not a task; got 'foo'" in unknown.stderr
    done = cli(
        "submit", "image-to-video", "--server", server.url, "--image", str(sample_image),
        "--backend", "noop", "--model", "any", "--device", "cpu", "--wait", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    listed = cli("jobs", "list", "--server", server.url).stdout.splitlines()
    assert listed[0].split() == ["id", "status", "task", "backend", "created", "message"]
    assert any(line.startswith(job["id"]) for line in listed[1:])
    saved = cli("jobs", "download", job["id"], "--out", str(tmp_path / "got"), "--server", server.url)
    assert saved.returncode == 0 and (tmp_path / "got" / "result.json").is_file()
    deleted = cli("jobs", "delete", job["id"], "--server", server.url)
    assert deleted.returncode == 0 and f"job {job['id']} deleted" in deleted.stderr
    assert cli("jobs", "show", job["id"], "--server", server.url).returncode == 2
