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


# --- landmark lip metrics (need the `landmarks` extra: dlib's 68-point predictor) -------------------
# They measure what a viewer sees: the inner-lip gap against the loudness, how far the lower lip
# travels against the upper lip (relative to the nose tip, so head motion cancels), and whether the
# open mouth is drawn as one flat colour (a slab) rather than a shaded inside.

FLAT_STD = 2.0  # grey levels: a 3x3 neighbourhood varying less than this is flat colour
FLAT_MOUTH_PX = 48.0  # the mouth's width when its flatness is measured
OPEN_GAP = 0.06  # inner-lip gap (of the inter-ocular distance) above which a frame counts as open


@dataclass
class LipTracks:
    landmarks: np.ndarray  # (T, 68, 2)
    gap: np.ndarray  # inner-lip gap per frame, in inter-ocular distances
    upper: np.ndarray  # outer upper lip (50-52) below the nose tip, in inter-ocular distances
    lower: np.ndarray  # outer lower lip (56-58) below the nose tip


def lip_tracks(frames: np.ndarray) -> LipTracks:
    """68-point landmarks on every frame (the face found once, on the median frame) and the lip tracks.

    Raises MetricSkipped without the ``landmarks`` extra or when no face is found.
    """
    from genserve.backends import portrait_landmarks

    if not portrait_landmarks.available():
        raise MetricSkipped("needs 68-point landmarks: pip install 'genserve[landmarks]'")
    import dlib

    detector, predictor = portrait_landmarks.models()
    median = np.ascontiguousarray(np.median(frames[:: max(1, len(frames) // 15)], axis=0).astype(np.uint8))
    with portrait_landmarks.LOCK:
        boxes = list(detector(median, 1))
    if not boxes:
        raise MetricSkipped("no face found by the landmark detector")
    box = max(boxes, key=lambda b: b.width() * b.height())
    rect = dlib.rectangle(box.left(), box.top(), box.right(), box.bottom())
    with portrait_landmarks.LOCK:
        shapes = [predictor(np.ascontiguousarray(f), rect).parts() for f in frames]
    pts = np.stack([np.array([(p.x, p.y) for p in shape], np.float32) for shape in shapes])
    iod = np.linalg.norm(pts[:, 36:42].mean(axis=1) - pts[:, 42:48].mean(axis=1), axis=1).mean()
    gap = (pts[:, [65, 66, 67], 1].mean(axis=1) - pts[:, [61, 62, 63], 1].mean(axis=1)) / iod
    nose = pts[:, 30, 1]
    upper = (pts[:, [50, 51, 52], 1].mean(axis=1) - nose) / iod
    lower = (pts[:, [56, 57, 58], 1].mean(axis=1) - nose) / iod
    return LipTracks(pts, gap, upper, lower)


def lower_upper_ratio(tracks: LipTracks) -> float:
    """How much farther the lower lip travels than the upper lip, relative to the nose (std ratio)."""
    return float(tracks.lower.std() / max(tracks.upper.std(), 1e-4))


def flat_share(frames: np.ndarray, tracks: LipTracks) -> float:
    """Share of the open mouth's dark inside (between the inner lips, at or below the median grey there)
    that is flat colour, over open frames. Each mouth is first scaled to FLAT_MOUTH_PX wide, so the
    figure does not depend on the video's resolution."""
    flat, total = 0, 0
    for frame, pts, gap in zip(frames, tracks.landmarks, tracks.gap, strict=True):
        if gap < OPEN_GAP:
            continue
        # 1. the mouth's box, scaled so the mouth is FLAT_MOUTH_PX wide
        scale = FLAT_MOUTH_PX / max(float(np.hypot(*(pts[54] - pts[48]))), 1.0)
        x0, y0 = np.floor(pts[48:68].min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(pts[48:68].max(axis=0)).astype(int) + 3
        x0, y0 = max(0, x0), max(0, y0)
        crop = frame[y0:y1, x0:x1]
        if crop.shape[0] < 3 or crop.shape[1] < 3:
            continue
        size = (max(3, round(crop.shape[1] * scale)), max(3, round(crop.shape[0] * scale)))
        grey = cv2.cvtColor(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        grey = grey.astype(np.float32)
        # 2. the inner-lip polygon in that box, eroded off the lips
        poly = ((pts[[60, 61, 62, 63, 64, 65, 66, 67]] - [x0, y0]) * scale).round().astype(np.int32)
        mask = np.zeros(grey.shape, np.uint8)
        cv2.fillPoly(mask, [poly], 1)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
        if mask.sum() < 6:
            continue
        # 3. flat: the 3x3 neighbourhood's grey varies by less than FLAT_STD
        mean = cv2.blur(grey, (3, 3))
        std = np.sqrt(np.maximum(cv2.blur(grey * grey, (3, 3)) - mean * mean, 0.0))
        inside = mask.astype(bool)
        inside &= grey <= np.median(grey[inside])  # the dark opening, not the teeth beside it
        flat += int((std[inside] < FLAT_STD).sum())
        total += int(inside.sum())
    return flat / total if total else 0.0


def _tracks(ctx: MeasureContext) -> LipTracks:
    return ctx.memo("lip_tracks", lambda: lip_tracks(ctx.frames()))


def _gap_sync(ctx: MeasureContext) -> SyncEstimate:
    def make() -> SyncEstimate:
        tracks = _tracks(ctx)
        if len(tracks.gap) < 2 * MAX_SHIFT:
            raise MetricSkipped(f"needs at least {2 * MAX_SHIFT} frames for a ±{MAX_SHIFT}-frame search")
        clip = ctx.video_audio()
        sound = loudness(clip.samples, clip.sample_rate, ctx.info().fps, len(tracks.gap))
        est = estimate_offset(tracks.gap, sound, max_shift=5)
        if tracks.gap.std() < 1e-3:
            est = SyncEstimate(offset=-5, confidence=0.0, peak=0.0, curve=est.curve)
        ctx.note("lip_gap_sync", lips_lead_frames=est.offset, gap_std=round(float(tracks.gap.std()), 4))
        return est

    return ctx.memo("lip_gap_sync", make)


@metric(
    "lip_gap_sync",
    unit="corr",
    direction="higher",
    version="dlib68-1",
    description="Inner-lip gap (68-point landmarks) against the audio loudness: correlation at the best "
    "lag within ±5 frames (needs genserve[landmarks])",
    tasks=("talking-head",),
)
def lip_gap_sync(ctx: MeasureContext) -> float:
    return _gap_sync(ctx).peak


@metric(
    "lip_gap_lag",
    unit="frames",
    direction="lower",
    version="dlib68-1",
    description="Frames the inner-lip gap trails the audio loudness at the best lag (negative: the lips "
    "lead, as in natural speech; needs genserve[landmarks])",
    tasks=("talking-head",),
)
def lip_gap_lag(ctx: MeasureContext) -> float:
    return float(-_gap_sync(ctx).offset)


@metric(
    "lower_upper_lip_ratio",
    unit="ratio",
    direction="higher",
    version="dlib68-1",
    description="Lower-lip travel over upper-lip travel relative to the nose tip (std of each; speech: "
    "the jaw does the work, ≥ 2; needs genserve[landmarks])",
    tasks=("talking-head",),
)
def lower_upper_lip_ratio(ctx: MeasureContext) -> float:
    tracks = _tracks(ctx)
    ctx.note(
        "lower_upper_lip_ratio",
        lower_std=round(float(tracks.lower.std()), 4),
        upper_std=round(float(tracks.upper.std()), 4),
    )
    return lower_upper_ratio(tracks)


@metric(
    "mouth_flat_share",
    unit="share",
    direction="lower",
    version="dlib68-2",
    description="Share of the open mouth's dark inside (between the inner lips) that is flat colour "
    "(3x3 grey std < 2; needs genserve[landmarks])",
    tasks=("talking-head",),
)
def mouth_flat_share(ctx: MeasureContext) -> float:
    return flat_share(ctx.frames(), _tracks(ctx))
