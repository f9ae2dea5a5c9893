"""The web UI's cost per job against the REST API's, on one server: the same tiny camera job
(256p, 8 frames) submitted and waited for through gradio_client (the UI's endpoint, which follows
the job by polling its record) and through the REST API (POST /v1/jobs with Prefer: wait).

    .venv/bin/python bench/bench_webui.py [--repeats 9]

Runs are interleaved and medians reported with their ratio (this machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from gradio_client import Client, handle_file

from genserve.config import Settings
from genserve.tasks import TASKS
from genserve.webui.forms import form_specs, values_from_params

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from webui_server import webui_server

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "genserve" / "data" / "sample.jpg"
PARAMS = {"resolution": "256p", "num_frames": 8, "fps": 8}


def via_ui(client: Client) -> float:
    values = values_from_params(form_specs(TASKS["image-to-video"].params_model), PARAMS)
    start = time.perf_counter()
    status, *_ = client.predict(handle_file(str(SAMPLE)), "camera", *values, api_name="/run_image_to_video")
    elapsed = time.perf_counter() - start
    assert 'data-status="succeeded"' in status, status
    return elapsed


def via_api(base: str) -> float:
    start = time.perf_counter()
    with SAMPLE.open("rb") as fh:
        answer = httpx.post(
            f"{base}/v1/jobs",
            data={"task": "image-to-video", "backend": "camera", **{k: str(v) for k, v in PARAMS.items()}},
            files={"image": ("sample.jpg", fh)},
            headers={"Prefer": "wait=60"},
            timeout=90,
        )
    elapsed = time.perf_counter() - start
    assert answer.status_code == 200 and answer.json()["status"] == "succeeded", answer.text
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(output_dir=Path(tmp) / "out", data_dir=Path(tmp) / "data")
        with webui_server(settings) as base:
            client = Client(f"{base}/ui/", verbose=False)
            via_ui(client), via_api(base)  # warm: backend loaded, connections open
            ui, api = [], []
            for _ in range(args.repeats):
                ui.append(via_ui(client))
                api.append(via_api(base))
    ui_ms, api_ms = statistics.median(ui) * 1000, statistics.median(api) * 1000
    print(f"jobs: {args.repeats} each, camera 256p x 8 frames")
    print(f"web UI (gradio_client) median: {ui_ms:.1f} ms")
    print(f"REST API (Prefer: wait) median: {api_ms:.1f} ms")
    print(f"web UI / API: {ui_ms / api_ms:.2f}x")


if __name__ == "__main__":
    main()
