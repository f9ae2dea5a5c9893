"""`genserve batch` against a real server: a manifest becomes jobs once, however often it runs and
wherever the client is stopped; bad manifests submit nothing; reports and downloads are complete."""

from __future__ import annotations

import collections
import json
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import ROOT, LiveServer, free_port

from genserve.batch.ids import file_sha256
from genserve.media.video import probe_video

GENSERVE = [sys.executable, "-m", "genserve"]
QA = ROOT / "qa" / "assets"
MOTIONS = ("zoom_in", "zoom_out", "pan_left", "pan_right", "tilt_up", "tilt_down", "ken_burns", "orbit")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("batch-server")
    live = LiveServer(tmp, GENSERVE_PLUGINS="svc_backends,batch_backends", GENSERVE_WORKERS="2").start()
    live.data_dir = tmp / "data"  # type: ignore[attr-defined]
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for src in (QA / "images" / "sample.jpg", QA / "images" / "blocks.png", QA / "text" / "sign.png"):
        shutil.copy(src, tmp_path / src.name)
    return tmp_path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def batch(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GENSERVE, "batch", *args, "--progress", "json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def jobs_of(server: LiveServer, batch_id: str) -> list[dict[str, Any]]:
    page = httpx.get(f"{server.url}/v1/jobs", params={"batch": batch_id, "limit": 500}).json()
    jobs: list[dict[str, Any]] = page["jobs"]
    return jobs


def all_jobs(server: LiveServer) -> int:
    return len(httpx.get(f"{server.url}/v1/jobs", params={"limit": 500}).json()["jobs"])


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def twelve_rows() -> list[dict[str, Any]]:
    i2v = [
        {
            "id": f"clip-{i}",
            "task": "image-to-video",
            "backend": "camera",
            "inputs": {"image": "sample.jpg" if i % 2 else "blocks.png"},
            "params": {"resolution": "256p", "num_frames": 6, "fps": 6, "motion": motion},
        }
        for i, motion in enumerate(MOTIONS)
    ]
    ocr = [
        {"id": f"read-{i}", "task": "recognize", "inputs": {"image": "sign.png"}, "params": {"top_k": i + 1}}
        for i in range(4)
    ]
    return i2v + ocr


def test_twelve_rows_run_once_however_often_the_batch_runs(server: LiveServer, folder: Path) -> None:
    manifest = write_jsonl(folder / "release.jsonl", twelve_rows())
    out = folder / "out"
    # 1. the batch: every job succeeds, outputs downloaded, reports written
    done = batch(str(manifest), "--server", server.url, "--out", str(out), "--concurrency", "4", cwd=folder)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"] == {"succeeded": 12} and summary["earlier_run"] == 0
    rows = records(out)
    assert len(rows) == 12 and {r["status"] for r in rows} == {"succeeded"}
    for r in rows[:8]:
        (video,) = r["outputs"]
        path = out / video["path"]
        assert path == out / r["row"] / "video.mp4" and file_sha256(path) == video["sha256"]
        assert probe_video(path).num_frames == 6
        assert (out / r["row"] / "result.json").is_file()
    suite = ET.parse(out / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("12", "0", "0")
    assert "12/12 succeeded" in (out / "summary.md").read_text()
    page = (out / "index.html").read_text()
    assert page.count('class="card"') == 12 and "genserve gate" in page  # the sign's text, read
    assert len(list((out / "_thumbs").glob("*.jpg"))) == 12
    # every state change was one JSON line (CI logs)
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert events[0]["event"] == "batch" and events[-1]["event"] == "done"
    assert sum(e["event"] == "row" and e["status"] == "succeeded" for e in events) == 12
    # 2. the server knows the batch: listed by its id, batch and row in each job's provenance
    jobs = jobs_of(server, "release")
    assert len(jobs) == 12
    assert {
        (j["result"]["provenance"]["batch"]["id"], j["result"]["provenance"]["batch"]["row"]) for j in jobs
    } == {("release", r["row"]) for r in rows}
    # 3. the same command again creates no new job
    before = all_jobs(server)
    again = batch(str(manifest), "--server", server.url, "--out", str(out), cwd=folder)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["earlier_run"] == 12
    assert all_jobs(server) == before and len(jobs_of(server, "release")) == 12
    assert [r["job_id"] for r in records(out)] == [r["job_id"] for r in rows]
    # 4. a missing file on line 3: exit 2 naming line 3, nothing submitted
    broken = twelve_rows()
    broken[2]["inputs"] = {"image": "gone.png"}
    bad = write_jsonl(folder / "broken.jsonl", broken)
    refused = batch(str(bad), "--server", server.url, "--out", str(folder / "bad"), cwd=folder)
    assert refused.returncode == 2
    assert "1 bad row (line 3); nothing was submitted" in refused.stderr
    assert "broken.jsonl:3: inputs.image: file does not exist; got 'gone.png'" in refused.stderr
    assert all_jobs(server) == before and jobs_of(server, "broken") == []
    assert not (folder / "bad").exists()


def test_csv_and_yaml_manifests(server: LiveServer, folder: Path) -> None:
    (folder / "shots.csv").write_text(
        "id,task,backend,image,prompt,resolution,num_frames,top_k\n"
        'a,image-to-video,camera,sample.jpg,"slow zoom, then hold",256p,4,\n'
        "b,recognize,,sign.png;blocks.png,,,,2\n"
    )
    (folder / "shots.yaml").write_text(
        "- id: a\n  task: image-to-video\n  backend: camera\n  inputs: {image: sample.jpg}\n"
        "  params: {prompt: 'slow zoom, then hold', resolution: 256p, num_frames: 4}\n"
    )
    done = batch("shots.csv", "--server", server.url, "--out", "csv-out", cwd=folder)
    assert done.returncode == 0, done.stderr
    a, b = records(folder / "csv-out")
    assert a["params"] == {"prompt": "slow zoom, then hold", "resolution": "256p", "num_frames": 4}
    assert b["inputs"] == {"image": ["sign.png", "blocks.png"]} and b["params"] == {"top_k": 2}
    (job,) = [j for j in jobs_of(server, "shots") if j["id"] == a["job_id"]]
    assert job["params"] == a["params"]  # typed, as the JSONL and YAML forms send them
    done = batch("shots.yaml", "--server", server.url, "--out", "yaml-out", cwd=folder)
    assert done.returncode == 0, done.stderr
    # the same row content is the same job, whichever form it came in
    assert records(folder / "yaml-out")[0]["job_id"] == a["job_id"]


def test_a_client_killed_midway_and_run_again_makes_no_duplicate(server: LiveServer, folder: Path) -> None:
    rows = [
        {
            "id": f"r{i:02d}",
            "task": "image-to-video",
            "backend": "slow",
            "inputs": {"image": "sample.jpg"},
            "params": {"prompt": f"count:kill-{i}", "steps": 1, "resolution": "256p"},
        }
        for i in range(50)
    ]
    manifest = write_jsonl(folder / "kill.jsonl", rows)
    args = [*GENSERVE, "batch", str(manifest), "--server", server.url, "--out", "out", "--concurrency", "8"]
    client = subprocess.Popen(
        [*args, "--progress", "json"], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while len(jobs_of(server, "kill")) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    client.kill()  # SIGKILL: no cleanup at all, jobs in flight stay on the server
    client.wait(10)
    started = len(jobs_of(server, "kill"))
    assert 12 <= started < 50
    again = batch(str(manifest), "--server", server.url, "--out", "out", "--concurrency", "8", cwd=folder)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["counts"] == {"succeeded": 50}
    jobs = jobs_of(server, "kill")
    assert len(jobs) == 50 and {j["status"] for j in jobs} == {"succeeded"}
    ran = collections.Counter(
        line for line in (server.data_dir / "runs.log").read_text().splitlines() if "kill-" in line
    )  # type: ignore[attr-defined]
    assert len(ran) == 50 and set(ran.values()) == {1}  # every row ran exactly once


def test_failed_rows_run_again_only_with_retry_failed(server: LiveServer, folder: Path) -> None:
    rows = [
        {"id": name, "task": "image-to-video", "backend": "flaky", "inputs": {"image": "sample.jpg"},
         "params": {"prompt": prompt}}
        for name, prompt in (("good", "fine"), ("bad", "fail please"), ("fine", "also fine"))
    ]  # fmt: skip
    manifest = write_jsonl(folder / "flaky.jsonl", rows)
    first = batch(str(manifest), "--server", server.url, "--out", "out", cwd=folder)
    assert first.returncode == 10  # a row failed
    failed = {r["row"]: r for r in records(folder / "out")}["bad"]
    assert failed["status"] == "failed" and "told to fail" in failed["message"]
    suite = ET.parse(folder / "out" / "junit.xml").getroot()
    assert suite.get("failures") == "1"
    # without --retry-failed nothing runs again; --max-failures tolerates it
    again = batch(str(manifest), "--server", server.url, "--out", "out", "--max-failures", "1", cwd=folder)
    assert again.returncode == 0 and len(jobs_of(server, "flaky")) == 3
    # fixed on the server: --retry-failed runs only the failed row, as attempt 2
    (server.data_dir / "healed").touch()  # type: ignore[attr-defined]
    retried = batch(str(manifest), "--server", server.url, "--out", "out", "--retry-failed", cwd=folder)
    assert retried.returncode == 0, retried.stderr
    fixed = {r["row"]: r for r in records(folder / "out")}["bad"]
    assert (
        fixed["status"] == "succeeded"
        and fixed["attempt"] == 2
        and fixed["job_id"] == f"{failed['job_id']}.2"
    )
    assert len(jobs_of(server, "flaky")) == 4


def test_ctrl_c_cancels_and_detach_leaves_jobs_running(server: LiveServer, folder: Path) -> None:
    rows = [
        {"id": f"s{i}", "task": "image-to-video", "backend": "slow", "inputs": {"image": "sample.jpg"},
         "params": {"prompt": f"stop-{i}", "steps": 4, "resolution": "256p"}}
        for i in range(8)
    ]  # fmt: skip
    manifest = write_jsonl(folder / "stop.jsonl", rows)
    args = [*GENSERVE, "batch", str(manifest), "--server", server.url, "--out", "out", "--progress", "json"]
    client = subprocess.Popen(
        [*args, "--concurrency", "4"], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while not any(j["status"] == "running" for j in jobs_of(server, "stop")) and time.monotonic() < deadline:
        time.sleep(0.05)
    client.send_signal(signal.SIGINT)
    _, err = client.communicate(timeout=30)
    assert client.returncode == 130, err
    assert "unfinished jobs canceled" in err
    jobs = jobs_of(server, "stop")
    assert jobs and not any(j["status"] in ("queued", "running") for j in jobs)
    assert "canceled" in {r["status"] for r in records(folder / "out")}
    # the next run goes on: canceled rows as a new attempt, rows never submitted for the first time
    detached = batch(str(manifest), "--server", server.url, "--out", "out", "--detach", cwd=folder)
    assert detached.returncode == 0, detached.stderr
    assert "genserve batch status" in detached.stderr
    assert any(j["status"] in ("queued", "running") for j in jobs_of(server, "stop"))
    # reattach: follow them to the end; nothing new is submitted
    count = len(jobs_of(server, "stop"))
    status = batch("status", str(manifest), "--server", server.url, "--out", "out", cwd=folder)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["counts"] == {"succeeded": 8}
    assert len(jobs_of(server, "stop")) == count


def test_an_unreachable_server_exits_3(folder: Path) -> None:
    manifest = write_jsonl(folder / "m.jsonl", twelve_rows()[:1])
    done = batch(str(manifest), "--server", f"http://127.0.0.1:{free_port()}", "--out", "out", cwd=folder)
    assert done.returncode == 3 and "cannot reach the server" in done.stderr
    assert "Traceback" not in done.stderr


def test_local_and_server_give_the_same_outputs(server: LiveServer, folder: Path) -> None:
    rows = [
        {"id": "same", "task": "image-to-video", "backend": "camera", "inputs": {"image": "blocks.png"},
         "params": {"resolution": "256p", "num_frames": 5, "motion": "pan_left", "seed": 7}},
    ]  # fmt: skip
    manifest = write_jsonl(folder / "same.jsonl", rows)
    there = batch(str(manifest), "--server", server.url, "--out", "there", cwd=folder)
    here = batch(str(manifest), "--local", "--out", "here", cwd=folder)
    assert there.returncode == 0 and here.returncode == 0, here.stderr
    (a,), (b,) = records(folder / "there"), records(folder / "here")
    assert a["job_id"] == b["job_id"] and a["outputs"] == b["outputs"]  # names, paths and sha256
    assert file_sha256(folder / "here" / "same" / "video.mp4") == a["outputs"][0]["sha256"]
