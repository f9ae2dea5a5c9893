"""Temporal metrics over decoded frames: flicker, motion, frozen runs, black frames, first-frame
fidelity and sharpness."""

from __future__ import annotations

import itertools
from typing import Any

import cv2
import numpy as np

from genserve.gates.context import MeasureContext
from genserve.gates.registry import MetricSkipped, metric

# NOTE: a consecutive pair whose mean absolute luma difference is under this is "the same frame";
# H.264 re-encoding of a repeated frame stays far below it, the slowest camera ease-in above it.
FROZEN_MAE = 0.15
# NOTE: ITU-R BT.601 video black is luma 16; a frame whose luma barely varies shows nothing.
BLACK_LUMA = 16.0
BLANK_STD = 2.0


def pair_mae(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference of each consecutive pair, over all pixels and channels (0..255)."""
    if len(frames) < 2:
        raise MetricSkipped("needs at least 2 frames")
    diffs = np.empty(len(frames) - 1, dtype=np.float64)
    for i in range(len(frames) - 1):
        diffs[i] = float(np.mean(cv2.absdiff(frames[i], frames[i + 1])))
    return diffs


@metric(
    "flicker",
    unit="score",
    direction="higher",
    version="vbench-1",
    description="VBench temporal flickering: (255 - mean consecutive-frame MAE) / 255; 1 = no change",
    outputs=("video",),
)
def flicker(ctx: MeasureContext) -> float:
    maes = ctx.memo("pair_mae_rgb", lambda: pair_mae(ctx.frames()))
    ctx.note("flicker", max_pair_mae=round(float(maes.max()), 3))
    return float((255.0 - maes.mean()) / 255.0)


def flow_top5(gray: np.ndarray, step: int) -> np.ndarray:
    """Per sampled pair: mean magnitude of the top 5 % Farneback flow vectors (px per pair)."""
    sampled = gray[::step]
    out = []
    for a, b in itertools.pairwise(sampled):
        none: Any = None
        flow = cv2.calcOpticalFlowFarneback(
            a.astype(np.uint8), b.astype(np.uint8), none, 0.5, 3, 15, 3, 5, 1.2, 0
        )
        mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2).reshape(-1)
        cut = max(1, int(mag.size * 0.05))
        out.append(float(np.mean(np.partition(mag, mag.size - cut)[-cut:])))
    return np.asarray(out)


def _flow(ctx: MeasureContext) -> tuple[np.ndarray, int]:
    def make() -> tuple[np.ndarray, int]:
        gray = ctx.gray()
        # NOTE: VBench samples frames at about 8 fps before measuring flow (interval = round(fps / 8)).
        step = max(1, round(ctx.info().fps / 8.0))
        if len(gray[::step]) < 2:
            raise MetricSkipped("needs at least 2 frames at 8 fps")
        return flow_top5(gray, step), step

    return ctx.memo("flow", make)


@metric(
    "dynamic_degree",
    unit="bool",
    direction="info",
    version="vbench-farneback-1",
    description="VBench dynamic degree with Farneback flow: 1 when enough frame pairs move more than "
    "6 px at 256 px short side (top 5 % of flow), else 0",
    outputs=("video",),
)
def dynamic_degree(ctx: MeasureContext) -> float:
    top5, step = _flow(ctx)
    h, w = ctx.gray().shape[1:3]
    # NOTE: VBench dynamic_degree: thres = 6.0 * (min(H, W) / 256), count_num = round(4 * frames / 16).
    thres = 6.0 * (min(h, w) / 256.0)
    sampled = len(top5) + 1
    needed = max(1, round(4 * sampled / 16.0))
    moving = int(np.sum(top5 > thres))
    ctx.note("dynamic_degree", moving_pairs=moving, needed=needed, threshold_px=round(thres, 2), step=step)
    return 1.0 if moving >= needed else 0.0


@metric(
    "motion",
    unit="px/frame@256",
    direction="info",
    version="farneback-1",
    description="Mean top-5 % optical-flow magnitude per 8-fps frame pair, scaled to a 256 px short side",
    outputs=("video",),
)
def motion(ctx: MeasureContext) -> float:
    top5, _ = _flow(ctx)
    h, w = ctx.gray().shape[1:3]
    return float(top5.mean() * 256.0 / min(h, w))


@metric(
    "frozen_fraction",
    unit="fraction",
    direction="lower",
    version="1",
    description="Longest run of identical consecutive frames, as a fraction of all frames (0 = none)",
    outputs=("video",),
)
def frozen_fraction(ctx: MeasureContext) -> float:
    gray = ctx.gray()
    maes = ctx.memo("pair_mae_gray", lambda: pair_mae(gray))
    longest = run = 0
    start = best_start = 0
    for i, same in enumerate(maes < FROZEN_MAE):
        if same:
            if run == 0:
                start = i
            run += 1
            if run > longest:
                longest, best_start = run, start
        else:
            run = 0
    frames = longest + 1 if longest else 0
    ctx.note("frozen_fraction", longest_run_frames=frames, from_frame=best_start if frames else None)
    return frames / len(gray)


@metric(
    "black_fraction",
    unit="fraction",
    direction="lower",
    version="1",
    description="Fraction of frames that are black (mean luma < 16) or blank (luma std < 2)",
    outputs=("video",),
)
def black_fraction(ctx: MeasureContext) -> float:
    gray = ctx.gray()
    flat = gray.reshape(len(gray), -1)
    bad = (flat.mean(axis=1) < BLACK_LUMA) | (flat.std(axis=1) < BLANK_STD)
    idx = np.flatnonzero(bad)
    ctx.note("black_fraction", black_frames=len(idx), first=int(idx[0]) if len(idx) else None)
    return float(bad.mean())


def fit_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop ``image`` to the aspect of width x height, then resize to it (area filter)."""
    ih, iw = image.shape[:2]
    aspect = width / height
    if iw / ih > aspect:
        cw, ch = round(ih * aspect), ih
    else:
        cw, ch = iw, round(iw / aspect)
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    crop = image[y0 : y0 + ch, x0 : x0 + cw]
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two grayscale images (Wang et al. 2004: Gaussian window 11, sigma 1.5)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _first_pair(ctx: MeasureContext) -> tuple[np.ndarray, np.ndarray]:
    first = ctx.frames()[0]
    ref = fit_to(ctx.input_image(), first.shape[1], first.shape[0])
    return first, ref


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


@metric(
    "first_frame_ssim",
    unit="ssim",
    direction="higher",
    version="1",
    description="SSIM of frame 0 against the input image (centre-cropped to the video's aspect)",
    tasks=("image-to-video",),
)
def first_frame_ssim(ctx: MeasureContext) -> float:
    first, ref = _first_pair(ctx)
    return ssim(_luma(first), _luma(ref))


@metric(
    "first_frame_psnr",
    unit="dB",
    direction="higher",
    version="1",
    description="PSNR of frame 0 against the input image (centre-cropped to the video's aspect)",
    tasks=("image-to-video",),
)
def first_frame_psnr(ctx: MeasureContext) -> float:
    first, ref = _first_pair(ctx)
    return psnr(first, ref)


@metric(
    "sharpness",
    unit="var",
    direction="higher",
    version="1",
    description="Mean variance of the Laplacian of each frame's luma (falls when frames are blurred)",
    outputs=("video",),
)
def sharpness(ctx: MeasureContext) -> float:
    gray = ctx.gray()
    values = [float(cv2.Laplacian(g, cv2.CV_32F).var()) for g in gray]
    ctx.note("sharpness", min_frame=round(min(values), 2))
    return float(np.mean(values))
