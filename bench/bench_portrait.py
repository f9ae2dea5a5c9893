"""Real-time factor of the portrait talking-head backend at 512p, beside two peers in the same run.

    .venv/bin/python bench/bench_portrait.py --repeats 5

genserve: the whole job path (``run_job``: decode, face detection, mouth curve, warp, H.264 encode,
AAC mux, sha256, result.json) on skimage's astronaut portrait and the espeak-ng speech fixture, on
the landmark path (genserve[landmarks]: 68-point landmarks, mesh warp, drawn mouth) when installed
and on the Haar path (the fallback without the extra).
Peers, same frame count, size and encoder settings:
  encode-only  the still portrait encoded with the same audio (the floor: no animation at all);
  naive warp   each frame a full-frame ``cv2.remap`` with maps built from scratch (what a
               per-frame whole-image warp costs), encoded the same way.
Real-time factor = seconds spent / seconds of audio (target ≤ 0.5 on a 2-core machine).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import skimage.data
from PIL import Image

from genserve.backends import portrait_landmarks
from genserve.backends.portrait_face import crop_box, detect_face, output_size
from genserve.config import Settings
from genserve.jobs import JobRequest, run_job
from genserve.media.audio import load_audio
from genserve.media.video import encode_video

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "tests" / "assets" / "speech.wav"
FPS = 25


def still_frame(src: np.ndarray, resolution: int) -> np.ndarray:
    face = detect_face(src)
    h, w = src.shape[:2]
    x0, y0, x1, y1 = crop_box(face, w, h, 0.18)
    size = output_size(x1 - x0, y1 - y0, resolution, min(h, w))
    return cv2.resize(src[y0:y1, x0:x1], size, interpolation=cv2.INTER_CUBIC)


def naive_frames(still: np.ndarray, n: int) -> Iterator[np.ndarray]:
    h, w = still.shape[:2]
    for i in range(n):
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        wobble = (
            2.0 * np.sin(i / 3.0) * np.exp(-(((gx - w / 2) / (w / 4)) ** 2 + ((gy - h / 2) / (h / 4)) ** 2))
        )
        yield cv2.remap(
            still, gx, gy - wobble.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--resolution", type=int, default=512)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    audio_s = load_audio(SPEECH).duration
    n = round(audio_s * FPS)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        portrait = tmp / "astronaut.png"
        src = skimage.data.astronaut()
        Image.fromarray(src).save(portrait)
        still = still_frame(src, args.resolution)
        settings = Settings(output_dir=tmp / "outputs", data_dir=tmp / "data")
        request = JobRequest(
            task="talking-head",
            inputs={"image": portrait, "audio": SPEECH},
            params={"min_resolution": args.resolution, "seed": 1},
            backend="portrait",
        )
        run_job(request, settings=settings)  # warm-up: imports, cascades, the landmark model
        ours = "genserve portrait" + (" (landmarks)" if portrait_landmarks.available() else "")
        times: dict[str, list[float]] = {ours: [], "  Haar path": [], "encode-only": [], "naive warp": []}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = run_job(request, settings=settings)
            times[ours].append(time.perf_counter() - t0)
            assert result.status == "succeeded", result.message
            with mock.patch.object(portrait_landmarks, "available", lambda: False):
                t0 = time.perf_counter()
                result = run_job(request, settings=settings)
                times["  Haar path"].append(time.perf_counter() - t0)
            assert result.parameters["face_detector"] == "haar"
            t0 = time.perf_counter()
            encode_video((still for _ in range(n)), tmp / "still.mp4", fps=FPS, audio_path=SPEECH)
            times["encode-only"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            encode_video(naive_frames(still, n), tmp / "naive.mp4", fps=FPS, audio_path=SPEECH)
            times["naive warp"].append(time.perf_counter() - t0)
    size = f"{still.shape[1]}x{still.shape[0]}"
    print(f"{n} frames {size} at {FPS} fps, {audio_s:.2f} s of audio, {args.repeats} repeats (median)")
    reference = statistics.median(times[ours])
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  {name:<30} {med:7.3f} s   RTF {med / audio_s:5.3f}   vs genserve {med / reference:5.2f}x")


if __name__ == "__main__":
    main()
