"""Lip-sync metrics: a weight-free audio/video offset proxy, and SyncNet's LSE-D / LSE-C when local
SyncNet weights are configured.

The proxy follows SyncNet's search (a window of ±15 frame shifts, the best shift is the offset, the
margin of the best over the median is the confidence) but compares two hand-made signals instead of
learned embeddings: how dark the mouth region is in each frame (an open mouth shows its dark inside)
and the loudness of the audio during that frame. Speech opens the mouth, so the two rise together.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from genserve.gates.context import MeasureContext
from genserve.gates.registry import MetricSkipped, metric

MAX_SHIFT = 15  # frames; NOTE: syncnet_python's evaluation searches vshift=15


@dataclass
class SyncEstimate:
    offset: int  # frames the audio trails the video (positive: sound comes after the mouth moves)
    confidence: float  # peak correlation minus the median over all shifts
    peak: float  # correlation at the best shift
    curve: list[float]  # correlation at shifts -MAX_SHIFT..MAX_SHIFT


@lru_cache(maxsize=1)
def _face_detector() -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]


def face_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the largest face in the median frame, or None."""
    median = np.median(gray[:: max(1, len(gray) // 15)], axis=0).astype(np.uint8)
    faces = _face_detector().detectMultiScale(median, scaleFactor=1.1, minNeighbors=4, minSize=(40, 40))
    if len(faces) == 0:
        return None
    x, y, w, h = (int(v) for v in max(faces, key=lambda f: int(f[2]) * int(f[3])))
    return x, y, x + w, y + h


def mouth_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the mouth region: the lower middle of the face."""
    face = face_box(gray)
    if face is None:
        return None
    x0, y0, x1, y1 = face
    w, h = x1 - x0, y1 - y0
    return x0 + int(0.2 * w), y0 + int(0.6 * h), x0 + int(0.8 * w), min(gray.shape[1], y0 + int(1.05 * h))


def mouth_signal(gray: np.ndarray) -> tuple[np.ndarray, str]:
    """Per frame: how dark the mouth region is (an open mouth shows its dark inside)."""
    box = mouth_box(gray)
    if box is None:
        region, where = gray, "whole frame (no face found)"
    else:
        x0, y0, x1, y1 = box
        region, where = gray[:, y0:y1, x0:x1], f"mouth box {box}"
    return 255.0 - region.reshape(len(region), -1).mean(axis=1), where


def loudness(samples: np.ndarray, sample_rate: int, fps: float, frames: int) -> np.ndarray:
    """Log RMS of the audio during each video frame."""
    out = np.zeros(frames)
    hop = sample_rate / fps
    for i in range(frames):
        chunk = samples[round(i * hop) : round((i + 1) * hop)]
        if len(chunk):
            out[i] = np.sqrt(np.mean(np.square(chunk.astype(np.float64))))
    return np.log(out + 1e-4)


def _z(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def estimate_offset(mouth: np.ndarray, sound: np.ndarray, max_shift: int = MAX_SHIFT) -> SyncEstimate:
    """Correlate mouth motion with loudness over ±max_shift frames.

    ``offset`` = k when the sound at frame t + k best matches the mouth at frame t.
    """
    n = min(len(mouth), len(sound))
    m, s = mouth[:n], sound[:n]
    curve = []
    for k in range(-max_shift, max_shift + 1):
        a, b = (m[: n - k], s[k:]) if k >= 0 else (m[-k:], s[: n + k])
        if len(a) < 8:
            curve.append(0.0)
            continue
        curve.append(float(np.mean(_z(a) * _z(b))))
    arr = np.asarray(curve)
    best = int(np.argmax(arr))
    return SyncEstimate(
        offset=best - max_shift,
        confidence=float(arr[best] - np.median(arr)),
        peak=float(arr[best]),
        curve=[round(c, 4) for c in curve],
    )


def _proxy(ctx: MeasureContext) -> SyncEstimate:
    def make() -> SyncEstimate:
        gray = ctx.gray()
        if len(gray) < 2 * MAX_SHIFT:
            raise MetricSkipped(f"needs at least {2 * MAX_SHIFT} frames for a ±{MAX_SHIFT}-frame search")
        clip = ctx.video_audio()
        mouth, where = mouth_signal(gray)
        sound = loudness(clip.samples, clip.sample_rate, ctx.info().fps, len(gray))
        est = estimate_offset(mouth, sound)
        if mouth.std() < 1e-3:
            est = SyncEstimate(offset=MAX_SHIFT, confidence=0.0, peak=0.0, curve=est.curve)
            where += "; the mouth never moves"
        ctx.note("av_offset", signed_offset=est.offset, region=where, peak=round(est.peak, 4))
        return est

    return ctx.memo("sync_proxy", make)


@metric(
    "av_offset",
    unit="frames",
    direction="lower",
    version="proxy-1",
    description="Weight-free lip-sync offset: |frames| between mouth motion and audio loudness "
    "(cross-correlation over ±15 frames; the signed value is in the detail)",
    tasks=("talking-head",),
)
def av_offset(ctx: MeasureContext) -> float:
    return float(abs(_proxy(ctx).offset))


@metric(
    "av_sync_confidence",
    unit="corr",
    direction="higher",
    version="proxy-1",
    description="Weight-free lip-sync confidence: best correlation minus the median over ±15 frames",
    tasks=("talking-head",),
)
def av_sync_confidence(ctx: MeasureContext) -> float:
    return _proxy(ctx).confidence


def _syncnet(ctx: MeasureContext) -> tuple[float, float, int]:
    from genserve.gates.registry import get_metric
    from genserve.gates.syncnet import evaluate

    path = get_metric("lse_d").weights_path(ctx.settings)

    def make() -> tuple[float, float, int]:
        clip = ctx.video_audio()
        box = ctx.memo("face_box", lambda: face_box(ctx.gray()))
        return evaluate(path, ctx.frames(), clip.samples, clip.sample_rate, ctx.info().fps, face_box=box)

    return ctx.memo("syncnet", make)


@metric(
    "lse_d",
    unit="distance",
    direction="lower",
    version="syncnet-v2-1",
    description="Lip Sync Error - Distance: SyncNet's mean audio-visual embedding distance at the best "
    "shift (syncnet_python's min_dist)",
    tasks=("talking-head",),
    weights="gate_syncnet_weights",
)
def lse_d(ctx: MeasureContext) -> float:
    dist, _conf, offset = _syncnet(ctx)
    ctx.note("lse_d", offset=offset)
    return dist


@metric(
    "lse_c",
    unit="confidence",
    direction="higher",
    version="syncnet-v2-1",
    description="Lip Sync Error - Confidence: median minus minimum of SyncNet's mean distances over shifts",
    tasks=("talking-head",),
    weights="gate_syncnet_weights",
)
def lse_c(ctx: MeasureContext) -> float:
    return _syncnet(ctx)[1]
