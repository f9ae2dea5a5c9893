"""Real media with planted defects for the gate metric tests: frames encoded to H.264 MP4 (with AAC
audio when given) through genserve.media, then measured from the file like any job output."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from genserve.config import Settings
from genserve.gates.context import MeasureContext
from genserve.media.audio import load_audio, write_wav
from genserve.media.video import encode_video

ROOT = Path(__file__).resolve().parents[2]
FACE = ROOT / "qa" / "assets" / "faces" / "astronaut.jpg"
SPEECH = ROOT / "tests" / "assets" / "speech.wav"
FPS = 25


def textured(h: int = 128, w: int = 160, seed: int = 0) -> np.ndarray:
    """A sharp, structured RGB image (blocks and gradients) so motion and blur are measurable."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], axis=-1).astype(np.uint8)
    for _ in range(12):
        cx, cy, r = int(rng.integers(10, w - 10)), int(rng.integers(10, h - 10)), int(rng.integers(4, 12))
        img[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r] = rng.integers(0, 255, 3)
    return img


def pan(img: np.ndarray, frames: int, step: float) -> list[np.ndarray]:
    """A horizontal pan of ``step`` pixels per frame (reflected borders)."""
    h, w = img.shape[:2]
    out = []
    for i in range(frames):
        m = np.float32([[1, 0, -step * i], [0, 1, 0]])
        out.append(cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT101))
    return out


def encode(frames: list[np.ndarray], path: Path, fps: float = FPS, audio: Path | None = None) -> Path:
    encode_video(iter(frames), path, fps=fps, audio_path=audio)
    return path


def context(
    tmp: Path, video: Path, task: str = "image-to-video", result: dict | None = None, **inputs: Path
) -> MeasureContext:
    settings = Settings(output_dir=tmp / "out", data_dir=tmp / "data")
    return MeasureContext(task=task, settings=settings, video=video, inputs=dict(inputs), result=result or {})


def speech(seconds: float = 3.0) -> tuple[np.ndarray, int]:
    clip = load_audio(SPEECH)
    return clip.samples[: int(seconds * clip.sample_rate)], clip.sample_rate


def envelope(samples: np.ndarray, sr: int, frames: int, fps: float = FPS) -> np.ndarray:
    hop = sr / fps
    rms = np.array(
        [np.sqrt(np.mean(samples[round(i * hop) : round((i + 1) * hop)] ** 2) + 1e-12) for i in range(frames)]
    )
    return rms / rms.max()


def talking_head(tmp: Path, audio_delay_frames: int = 0, seconds: float = 3.0, size: int = 192) -> Path:
    """The portrait with a dark mouth that opens with the speech loudness; the audio track is
    delayed by ``audio_delay_frames`` video frames (negative: it starts early)."""
    from genserve.gates.lipsync import face_box

    samples, sr = speech(seconds)
    frames = int(seconds * FPS)
    env = envelope(samples, sr, frames)
    face = np.asarray(Image.open(FACE).convert("RGB").resize((size, size)))
    box = face_box(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)[None].astype(np.float32))
    assert box is not None, "the test portrait must have a detectable face"
    x0, y0, x1, y1 = box
    cx, cy, half_w = (x0 + x1) // 2, int(y0 + 0.8 * (y1 - y0)), max(4, (x1 - x0) // 6)
    out = []
    for t in range(frames):
        img = face.copy()
        opening = round(1 + float(env[t]) * (y1 - y0) * 0.12)
        cv2.ellipse(img, (cx, cy), (half_w, opening), 0, 0, 360, (25, 10, 10), -1)
        out.append(img)
    shift = round(abs(audio_delay_frames) * sr / FPS)
    if audio_delay_frames >= 0:
        track = np.concatenate([np.zeros(shift, np.float32), samples])
    else:
        track = np.concatenate([samples[shift:], np.zeros(shift, np.float32)])
    wav = write_wav(tmp / f"track{audio_delay_frames}.wav", track, sr)
    return encode(out, tmp / f"talk{audio_delay_frames}.mp4", audio=wav)
