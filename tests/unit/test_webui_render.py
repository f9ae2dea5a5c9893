"""What the web UI shows of a job: queue position and ETA, a progress bar with steps and ETA,
warnings and degradation in plain words, teaching errors, text boxes drawn over the image."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from genserve.webui import render


def view(status: str, **extra: object) -> dict[str, object]:
    return {"id": "job-1", "status": status, "warnings": [], "result": None, **extra}


def bar(html: str) -> tuple[str, int, int]:
    match = re.search(r'<progress id="job-progress" value="(\d+)" max="(\d+)" [^>]*data-status="(\w+)"', html)
    assert match, html
    return match.group(3), int(match.group(1)), int(match.group(2))


def test_queued_shows_position_and_eta() -> None:
    queued = view("queued", queue_position=2, eta_s=12.4)
    line = render.status_line(queued)
    assert "position 3 in the queue" in line and "starts in about 12 s" in line
    assert bar(render.progress_html(queued)) == ("queued", 0, 1)
    assert "next in the queue" in render.status_line(view("queued", queue_position=0, eta_s=None))


def test_running_shows_steps_and_eta_from_the_pace() -> None:
    started = datetime.fromtimestamp(time.time() - 10, UTC).isoformat()
    running = view("running", started_at=started, progress={"step": 25, "total": 100})
    assert bar(render.progress_html(running)) == ("running", 25, 100)
    line = render.status_line(running)
    assert "step 25 of 100" in line
    eta = re.search(r"about (\d+) s left", line)
    assert eta and 25 <= int(eta.group(1)) <= 35  # 10 s for a quarter: about 30 s to go
    assert "loading the model" in render.status_line(view("running", progress=None))


def test_notes_put_degradation_warnings_and_errors_in_plain_words() -> None:
    done = view(
        "succeeded",
        warnings=["steps is not used by the camera backend"],
        result={
            "degraded": ["resolution 512p -> 384p"],
            "warnings": ["steps is not used by the camera backend"],
        },
    )
    notes = render.notes_markdown(done)
    assert "Ran out of memory" in notes and "resolution 512p -> 384p" in notes
    assert notes.count("steps is not used") == 1  # the same warning once
    failed = render.notes_markdown(
        view("failed", error="invalid_input", message="duration: must be within 0.5 s")
    )
    assert failed.startswith("**Error:** duration: must be within 0.5 s")
    assert render.notes_markdown(view("succeeded", result={})) == ""


def test_text_boxes_are_drawn_where_the_text_is(tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    Image.new("RGB", (300, 120), "white").save(path)
    blocks = [
        {"text": "a", "box": [[20, 30], [120, 30], [120, 60], [20, 60]]},
        {"text": "b", "bbox": [150, 70, 280, 100]},
    ]
    drawn = np.asarray(render.draw_text_boxes(path, blocks)).astype(int)
    red = (drawn[..., 0] > 200) & (drawn[..., 1] < 90)
    assert red[30, 20:121].all() and red[100, 150:281].all()  # both outlines, polygon and bbox
    assert not red[5:25, 200:290].any()  # nothing drawn where there is no text
