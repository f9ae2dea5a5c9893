"""What measuring costs beside generating: the weight-free gate metrics on one talking-head video,
against the job that made it and against decoding the video once (the floor of any metric).

    .venv/bin/python bench/bench_gate.py [--repeats 5]

The video: the portrait backend at 256p on qa/assets (2.4 s, 60 frames, 25 fps, AAC audio).
Runs are interleaved and the median reported, with ratios, because this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from genserve.config import Settings
from genserve.gates.context import MeasureContext
from genserve.gates.measure import measure_asset
from genserve.jobs import BackendCache, JobRequest, run_job
from genserve.media.video import read_frames

ASSETS = Path(__file__).resolve().parents[1] / "qa" / "assets"
INPUTS = {"image": ASSETS / "faces" / "astronaut.jpg", "audio": ASSETS / "speech" / "hello.wav"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(output_dir=Path(tmp) / "out", data_dir=Path(tmp) / "data")
        cache = BackendCache(1)
        request = JobRequest(
            "talking-head", dict(INPUTS), {"min_resolution": 256, "seed": 7}, backend="portrait"
        )
        result = run_job(request, settings=settings, cache=cache)  # warm the backend
        video = Path(result.outputs[0].path)
        times: dict[str, list[float]] = {"generate": [], "decode": [], "measure": []}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run_job(request, settings=settings, cache=cache)
            times["generate"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            read_frames(video)
            times["decode"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ctx = MeasureContext(
                "talking-head", settings, video, dict(INPUTS), result=result.model_dump(mode="json")
            )
            measured = measure_asset(ctx)
            times["measure"].append(time.perf_counter() - t0)
        ok = sum(m.status == "ok" for m in measured.values())
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"video: 60 frames 256x256 @25 fps; {ok} metrics measured, {len(measured) - ok} skipped")
        for k, v in med.items():
            print(f"{k:>9}: {v * 1000:8.1f} ms (median of {args.repeats})")
        print(f"measure / generate = {med['measure'] / med['generate']:.2f}")
        print(f"measure / decode   = {med['measure'] / med['decode']:.2f}")


if __name__ == "__main__":
    main()
