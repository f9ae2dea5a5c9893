"""Contact sheet of the portrait backend's mouth at the loudest frames, for portraits that differ.

    .venv/bin/python bench/portrait_sheet.py --out docs/portrait_mouths.jpg

Rows: skimage's astronaut (smiling with teeth) on the landmark path and on the Haar path (the
fallback without genserve[landmarks]); matplotlib's Grace Hopper sample photo (closed mouth, a
larger face); the astronaut mirrored and shrunk on a wider canvas (another face at another size).
Columns: the most closed frame, then the five loudest frames of an espeak-ng sentence, each cropped
around the mouth with landmarks found on the output video. Prints the landmark measurements of each row.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path
from unittest import mock

import cv2
import matplotlib.cbook as cbook
import numpy as np
import skimage.data
from PIL import Image

from genserve.backends import portrait_landmarks
from genserve.config import Settings
from genserve.gates import lipsync
from genserve.jobs import JobRequest, run_job
from genserve.media.audio import load_audio
from genserve.media.video import read_frames

SENTENCE = "Would you open the window? My brother bought a bright blue boat."
TILE = 160


def portraits() -> dict[str, np.ndarray]:
    astronaut = skimage.data.astronaut()
    hopper_path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    hopper = np.asarray(Image.open(hopper_path).convert("RGB"))
    small = cv2.resize(astronaut[:, ::-1], (300, 300), interpolation=cv2.INTER_AREA)
    canvas = np.full((440, 640, 3), 205, np.uint8)
    canvas[100:400, 300:600] = small
    return {
        "astronaut (teeth)": astronaut,
        "Grace Hopper (closed)": hopper,
        "astronaut small, mirrored": canvas,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("docs/portrait_mouths.jpg"))
    ap.add_argument("--resolution", type=int, default=384)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        speech = tmp / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "en+f3", "-s", "140", "-w", str(speech), SENTENCE], check=True)
        settings = Settings(output_dir=tmp / "out", data_dir=tmp / "data")
        cases = [(name, rgb, True) for name, rgb in portraits().items()]
        cases.insert(1, ("astronaut, Haar path", portraits()["astronaut (teeth)"], False))
        for name, rgb, landmarks in cases:
            path = tmp / "portrait.png"
            Image.fromarray(rgb).save(path)
            request = JobRequest(
                task="talking-head",
                inputs={"image": path, "audio": speech},
                params={"min_resolution": args.resolution, "seed": 1},
                backend="portrait",
            )
            with mock.patch.object(portrait_landmarks, "available", lambda on=landmarks: on):
                result = run_job(request, settings=settings)
            assert result.status == "succeeded", result.message
            video = result.output("video.mp4")
            assert video is not None
            frames = read_frames(video.path)
            tracks = lipsync.lip_tracks(frames)
            clip = load_audio(video.path, argument="video", max_seconds=3600)
            sound = lipsync.loudness(clip.samples, clip.sample_rate, 25, len(frames))
            est = lipsync.estimate_offset(tracks.gap, sound, max_shift=5)
            print(
                f"{name:<28} {result.parameters['face_detector']:<8} gap~loudness r={est.peak:.2f} "
                f"(lips lead {est.offset} frames)  "
                f"lower/upper lip travel {lipsync.lower_upper_ratio(tracks):.1f}  "
                f"flat share {lipsync.flat_share(frames, tracks):.2f}"
            )
            loudest = np.argsort(sound)[-5:][::-1]
            rest = int(np.argmin(tracks.gap))
            p = tracks.landmarks[0]
            cx, cy = p[[48, 54], 0].mean(), p[[51, 57], 1].mean()
            half = 1.1 * (p[54, 0] - p[48, 0])
            tiles = []
            for i in [rest, *loudest.tolist()]:
                y0, x0 = int(max(0, cy - half)), int(max(0, cx - half))
                crop = frames[i][y0 : int(cy + half), x0 : int(cx + half)]
                tile = cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_CUBIC)
                cv2.putText(tile, "closed" if i == rest else f"f{i}", (4, 14), 0, 0.4, (255, 255, 0), 1)
                tiles.append(tile)
            label = np.full((TILE, 150, 3), 255, np.uint8)
            for j, word in enumerate([*name.split(", "), result.parameters["face_detector"]]):
                cv2.putText(label, word, (4, 30 + 20 * j), 0, 0.4, (0, 0, 0), 1)
            rows.append(np.concatenate([label, *tiles], axis=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out, quality=85)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
