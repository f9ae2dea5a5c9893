"""The batch engine against an in-memory target: what a rerun does with each row's last attempt,
slots, rate limits, an unreachable target, downloads that do not match, and the reports."""

from __future__ import annotations

import hashlib
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genserve.batch.board import Board
from genserve.batch.contact_sheet import write_index
from genserve.batch.engine import BatchRun, Options
from genserve.batch.results import write_results
from genserve.batch.rows import BackendCatalog, BatchRow
from genserve.errors import RateLimited, ServerUnreachable

VIDEO = b"not really a video"


def row(name: str, prompt: str = "") -> BatchRow:
    return BatchRow(
        line=int(name[1:]) + 1,
        id=name,
        task="image-to-video",
        backend="fake",
        inputs={},
        params={"prompt": prompt},
        fingerprint=hashlib.sha256(name.encode()).hexdigest(),
    )


class FakeTarget:
    """Jobs in a dict; a followed job finishes at once: failed when its prompt says "fail"."""

    where = "in memory"

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.puts: list[str] = []
        self.rate_limited = 0  # refuse this many puts first
        self.unreachable_on_follow = False
        self.corrupt = False
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def catalog(self) -> BackendCatalog:
        return BackendCatalog([{"task": "image-to-video", "backend": "fake", "available": True}])

    def open(self) -> None:
        return None

    def seed(self, job_id: str, status: str, prompt: str = "") -> None:
        self.jobs[job_id] = self._view(job_id, status, prompt)

    def _view(self, job_id: str, status: str, prompt: str) -> dict[str, Any]:
        result = None
        if status == "succeeded":
            output = {"name": "video.mp4", "media_type": "video/mp4", "bytes": len(VIDEO)}
            result = {
                "duration_sec": 0.5,
                "outputs": [{**output, "sha256": hashlib.sha256(VIDEO).hexdigest()}],
            }
        elif status == "failed":
            result = {"duration_sec": 0.1, "outputs": []}
        error = {"failed": "internal_error", "canceled": "canceled"}.get(status)
        return {"id": job_id, "status": status, "prompt": prompt, "result": result, "error": error,
                "message": f"it {status}" if error else None}  # fmt: skip

    def batch_jobs(self, batch_id: str) -> dict[str, dict[str, Any]]:
        return dict(self.jobs)

    def put(self, job_id: str, r: BatchRow, batch_id: str) -> dict[str, Any]:
        if self.rate_limited:
            self.rate_limited -= 1
            raise RateLimited("too many")
        self.puts.append(job_id)
        return self.jobs.setdefault(job_id, self._view(job_id, "queued", r.params["prompt"]))

    def events(self, job_id: str) -> Iterator[dict[str, Any]]:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.unreachable_on_follow:
                raise ServerUnreachable("gone")
            yield {"type": "started"}
            yield {"type": "progress", "step": 1, "total": 2}
            job = self.jobs[job_id]
            if job["status"] in ("queued", "running"):
                status = "failed" if job["prompt"].startswith("fail") else "succeeded"
                self.jobs[job_id] = self._view(job_id, status, job["prompt"])
            yield {"type": "completed", "status": self.jobs[job_id]["status"]}
        finally:
            with self.lock:
                self.in_flight -= 1

    def get(self, job_id: str) -> dict[str, Any]:
        return self.jobs[job_id]

    def cancel(self, job_id: str) -> None:
        self.jobs[job_id] = self._view(job_id, "canceled", self.jobs[job_id]["prompt"])

    def download(self, job: dict[str, Any], folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "video.mp4"
        target.write_bytes(b"corrupt" if self.corrupt else VIDEO)
        (folder / "result.json").write_text(json.dumps(job))
        return [target]

    def close(self) -> None:
        return None


def run_batch(target: FakeTarget, rows: list[BatchRow], out: Path, **options: Any) -> tuple[Board, BatchRun]:
    board = Board("b", rows, where=target.where)
    run = BatchRun(board, target, out, Options(**options))
    run.run()
    return board, run


def statuses(board: Board) -> dict[str, str]:
    return {s.row.id: s.status for s in board.states}


def test_a_rerun_skips_follows_and_retries_only_when_told(tmp_path: Path) -> None:
    rows = [row("r0"), row("r1"), row("r2", "fail"), row("r3"), row("r4")]
    target = FakeTarget()
    target.seed(rows[0].job_id("b"), "succeeded")
    target.seed(rows[1].job_id("b"), "running")
    target.seed(rows[2].job_id("b"), "failed", "fail")
    target.seed(rows[3].job_id("b"), "canceled")
    board, _ = run_batch(target, rows, tmp_path)
    assert statuses(board) == {
        "r0": "succeeded",
        "r1": "succeeded",
        "r2": "failed",
        "r3": "succeeded",
        "r4": "succeeded",
    }
    # nothing twice: only the canceled row (as attempt 2) and the new row were submitted
    assert sorted(target.puts) == sorted([rows[3].job_id("b", 2), rows[4].job_id("b")])
    assert (tmp_path / "r0" / "video.mp4").read_bytes() == VIDEO
    assert [s.earlier for s in board.states] == [True, False, True, False, False]

    target.puts.clear()
    board, _ = run_batch(target, rows, tmp_path)
    assert target.puts == [] and statuses(board)["r2"] == "failed"

    (target.jobs[rows[2].job_id("b")])["prompt"] = "now fine"
    board, _ = run_batch(
        target, [row("r0"), row("r1"), row("r2"), row("r3"), row("r4")], tmp_path, retry_failed=True
    )
    assert target.puts == [row("r2").job_id("b", 2)]
    assert statuses(board)["r2"] == "succeeded" and board.states[2].attempt == 2


def test_the_latest_attempt_counts(tmp_path: Path) -> None:
    r = row("r0")
    target = FakeTarget()
    target.seed(r.job_id("b"), "failed")
    target.seed(r.job_id("b", 2), "failed")
    board, _ = run_batch(target, [r], tmp_path, retry_failed=True)
    assert target.puts == [r.job_id("b", 3)] and board.states[0].attempt == 3


def test_status_submits_nothing(tmp_path: Path) -> None:
    rows = [row("r0"), row("r1")]
    target = FakeTarget()
    target.seed(rows[0].job_id("b"), "queued")
    board, _ = run_batch(target, rows, tmp_path, submit=False)
    assert target.puts == [] and statuses(board) == {"r0": "succeeded", "r1": "not_submitted"}


def test_concurrency_bounds_the_jobs_in_flight_and_rate_limits_are_waited_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("genserve.batch.engine.RATE_LIMIT_WAIT_S", 0.01)
    target = FakeTarget()
    target.rate_limited = 3
    board, _ = run_batch(target, [row(f"r{i}") for i in range(20)], tmp_path, concurrency=3)
    assert set(statuses(board).values()) == {"succeeded"}
    assert 1 <= target.most_in_flight <= 3 and len(target.puts) == 20


def test_an_unreachable_target_ends_the_run(tmp_path: Path) -> None:
    target = FakeTarget()
    target.unreachable_on_follow = True
    board, run = run_batch(target, [row("r0"), row("r1")], tmp_path, concurrency=1)
    assert isinstance(run.fatal, ServerUnreachable)
    assert set(statuses(board).values()) <= {"queued", "not_submitted"}


def test_a_download_that_does_not_match_its_sha256_fails_the_row(tmp_path: Path) -> None:
    target = FakeTarget()
    target.corrupt = True
    board, _ = run_batch(target, [row("r0")], tmp_path)
    state = board.states[0]
    assert state.status == "failed" and "does not match its sha256" in (state.message or "")


def test_reports(tmp_path: Path) -> None:
    target = FakeTarget()
    rows = [row("r0"), row("r1", "fail"), row("r2")]
    target.seed(rows[2].job_id("b"), "failed")
    board, _ = run_batch(target, rows, tmp_path)
    paths = write_results(board, tmp_path)
    index = write_index(board, tmp_path)
    records = [json.loads(line) for line in paths["jsonl"].read_text().splitlines()]
    assert [(r["row"], r["status"]) for r in records] == [
        ("r0", "succeeded"),
        ("r1", "failed"),
        ("r2", "failed"),
    ]
    assert records[0]["outputs"] == [
        {
            "name": "video.mp4",
            "path": "r0/video.mp4",
            "media_type": "video/mp4",
            "bytes": len(VIDEO),
            "sha256": hashlib.sha256(VIDEO).hexdigest(),
        }
    ]
    assert records[1]["job_id"] == rows[1].job_id("b") and records[1]["error"] == "internal_error"
    assert records[2]["earlier_run"] is True
    csv_lines = paths["csv"].read_text().splitlines()
    assert csv_lines[0].startswith(
        "row,line,task,backend,job_id,attempt,status,outputs,paths,duration_sec,error"
    )
    assert len(csv_lines) == 4
    suite = ET.parse(paths["junit"]).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    cases = suite.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["r0", "r1", "r2"]
    assert cases[1].find("failure") is not None and cases[0].find("failure") is None
    summary = paths["summary"].read_text()
    assert "1/3 succeeded" in summary and "### Failures" in summary and "it failed" in summary
    page = index.read_text()
    assert page.count('class="card"') == 3 and 'href="r0/video.mp4"' in page and "it failed" in page


def test_the_live_display_shows_the_bar_the_rows_running_and_the_failures(tmp_path: Path) -> None:
    from rich.console import Console

    from genserve.batch.progress import LiveDisplay

    target = FakeTarget()
    rows = [row("r0"), row("r1", "fail"), row("r2")]
    board, _ = run_batch(target, rows, tmp_path)
    console = Console(record=True, width=120, force_terminal=False)
    display = LiveDisplay(console)
    display.changed(board, board.states[1])
    board.set(board.states[2], status="running", job_id="b-r2-x")
    board.progress(board.states[2], 3, 10)
    console.print(display.render(board))
    text = console.export_text()
    assert "batch b" in text and "2/3" in text and "rows/min" in text and "eta" in text
    assert "1 running" in text and "1 succeeded" in text and "1 failed" in text
    assert "r2" in text and "3/10" in text  # the row running now, with its steps
    assert "failed r1 (line 2): it failed" in text


def test_the_command_group_runs_a_manifest_by_default(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from genserve.commands.batch import batch_app

    runner = CliRunner()
    helped = runner.invoke(batch_app, ["--help"])
    assert helped.exit_code == 0 and "run" in helped.output and "status" in helped.output
    missing = runner.invoke(batch_app, [str(tmp_path / "none.jsonl"), "--local"])
    assert missing.exit_code == 2 and "manifest file does not exist" in missing.output
    missing = runner.invoke(batch_app, ["--local", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 2 and "manifest file does not exist" in missing.output
