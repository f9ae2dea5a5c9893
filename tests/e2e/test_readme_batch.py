"""The README's "Batches" commands, run as written (the server's port and the output folder moved
aside): the example manifest here, again, on a server, reattached, and listed by batch."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from live_server import ROOT, LiveServer


def readme_block(section: str) -> str:
    text = (ROOT / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", body, re.S)
    assert match, f"no bash block under '## {section}'"
    return match.group(1)


def test_the_batch_commands_run_as_written(tmp_path: Path) -> None:
    server = LiveServer(tmp_path).start()
    try:
        commands = readme_block("Batches").replace("127.0.0.1:7860", f"127.0.0.1:{server.port}")
        commands = commands.replace("batch-out", str(tmp_path / "batch-out"))
        env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
        done = subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{commands}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"batch"')]
    assert [s["counts"] for s in summaries] == [{"succeeded": 4}] * 4
    assert [s["earlier_run"] for s in summaries] == [0, 4, 0, 4]  # run, again, server, status
    listed = [line.split("\t") for line in done.stdout.splitlines() if "\t" in line]
    assert sorted(row for row, _, _ in listed) == ["hero", "pan", "sign", "speaker"]
    assert {status for _, _, status in listed} == {"succeeded"}
    for out in (tmp_path / "batch-out", tmp_path / "batch-out" / "server"):
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert [r["row"] for r in rows] == ["hero", "pan", "speaker", "sign"]
        assert (out / "hero" / "video.mp4").is_file() and (out / "junit.xml").is_file()
        assert rows[0]["prompt_template"]["template"] == "i2v.j2"
