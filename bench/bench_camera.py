"""Camera backend vs ffmpeg's zoompan filter making the same clip (512p, 16 frames, 8 fps, slow zoom in).

    .venv/bin/python bench/bench_camera.py [--repeats 7]

Both sides decode the same image, render the same eased zoom and encode H.264 (veryfast, crf 20,
yuv420p). genserve is timed through the full job path (run_job: validation, render, encode,
sha256, result.json); ffmpeg as a process (imageio-ffmpeg's binary). Runs are interleaved and the
median is reported, with the ratio, because this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

from genserve.config import Settings
from genserve.jobs import BackendCache, JobRequest, run_job
from genserve.media.video import probe_video

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "genserve" / "data" / "sample.jpg"
ZOOM = 0.175  # the camera backend's slow zoom in: 1 + 0.35 * 0.5


def run_genserve(out: Path, cache: BackendCache) -> float:
    settings = Settings(output_dir=out)
    request = JobRequest(
        task="image-to-video",
        inputs={"image": SAMPLE},
        params={"prompt": "camera zooming in slowly", "resolution": "512p", "num_frames": 16, "fps": 8},
        backend="camera",
    )
    t0 = time.perf_counter()
    result = run_job(request, settings=settings, cache=cache)
    elapsed = time.perf_counter() - t0
    assert result.status == "succeeded", result.message
    info = probe_video(result.outputs[0].path)
    assert (info.num_frames, info.fps, info.short_side) == (16, 8.0, 512)
    return elapsed


def run_zoompan(out: Path) -> float:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    path = out / "zoompan.mp4"
    zoom = f"1+{ZOOM}*(0.5-0.5*cos(PI*on/15))"
    vf = f"zoompan=z='{zoom}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=16:s=512x512:fps=8"
    cmd = [
        ffmpeg,
        "-v",
        "error",
        "-y",
        "-i",
        str(SAMPLE),
        "-vf",
        vf,
        "-frames:v",
        "16",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "20",
        "-pix_fmt",
        "yuv420p",
        str(path),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    elapsed = time.perf_counter() - t0
    info = probe_video(path)
    assert (info.num_frames, info.short_side) == (16, 512), info
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cache = BackendCache()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run_genserve(out, cache)  # warm-up: imports, first encoder
        run_zoompan(out)
        ours, theirs = [], []
        for _ in range(args.repeats):
            ours.append(run_genserve(out, cache))
            theirs.append(run_zoompan(out))
    g, z = statistics.median(ours), statistics.median(theirs)
    print(f"camera backend (run_job)  median {g * 1000:7.1f} ms  (min {min(ours) * 1000:.1f})")
    print(f"ffmpeg zoompan (process)  median {z * 1000:7.1f} ms  (min {min(theirs) * 1000:.1f})")
    print(f"ratio zoompan/camera = {z / g:.2f}x  (target: > 1, and camera <= 300 ms)")


if __name__ == "__main__":
    main()
