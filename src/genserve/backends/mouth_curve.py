"""Speech → how far the mouth is open, one value per video frame (0 = closed, 1 = a loud syllable).

The portrait backend's lip motion: the loudness of the speech band, gated and normalised to the
clip's own loud level, smoothed with a fast attack and a slower release (mouths snap open and
close more gently), scaled by ``dynamic_scale`` and shifted so the lips lead the sound slightly.
"""

from __future__ import annotations

import math

import numpy as np

# NOTE: the band that carries speech intelligibility (telephone band); rumble and hiss outside it
# should not move the lips.
SPEECH_BAND_HZ = (250.0, 4000.0)
# A frame quieter than this (speech-band level, dBFS) is silence: the mouth stays shut.
SILENCE_GATE_DB = -55.0
# Loudness range mapped onto closed..open, below the clip's loud level (its 95th percentile).
DYNAMIC_RANGE_DB = 30.0
ATTACK_S = 0.02
RELEASE_S = 0.09
# NOTE: in natural speech the lips start moving before the sound they shape (audio-visual speech
# studies report a visual lead of roughly 50-200 ms at syllable onsets); 80 ms is two frames at 25 fps.
LIP_LEAD_S = 0.08
# Largest opening after dynamic_scale, so an extreme setting cannot tear the face.
MAX_OPENING = 1.6


def speech_level_db(samples: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """Speech-band level in dBFS for each video frame (a window of two frame periods, centred)."""
    hop = sample_rate / fps
    win = max(64, round(2 * hop))
    nfft = 1 << (win - 1).bit_length()
    padded = np.concatenate(
        [np.zeros(win, np.float32), samples.astype(np.float32), np.zeros(win, np.float32)]
    )
    centres = (np.arange(n_frames) + 0.5) * hop + win  # frame centre, in padded samples
    starts = np.clip(np.round(centres - win / 2).astype(np.int64), 0, len(padded) - win)
    frames = padded[starts[:, None] + np.arange(win)[None, :]] * np.hanning(win).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(frames, n=nfft, axis=1)) ** 2
    freqs = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    band = (freqs >= SPEECH_BAND_HZ[0]) & (freqs <= SPEECH_BAND_HZ[1])
    # Parseval with the Hann window's power (3/8): the mean-square of the band-limited signal
    power = 2.0 * spectrum[:, band].sum(axis=1) / (nfft * win * 0.375)
    return (10.0 * np.log10(power + 1e-12)).astype(np.float32)


def follow(x: np.ndarray, fps: float, attack_s: float = ATTACK_S, release_s: float = RELEASE_S) -> np.ndarray:
    """Envelope follower: rises with the attack time constant, falls with the release one."""
    a_up = 1.0 - math.exp(-1.0 / (attack_s * fps))
    a_down = 1.0 - math.exp(-1.0 / (release_s * fps))
    out = np.empty_like(x)
    y = 0.0
    for i, v in enumerate(x.tolist()):
        y += (a_up if v > y else a_down) * (v - y)
        out[i] = y
    return out


def smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing over time (edges held), so it adds no lag."""
    if sigma_frames <= 0 or len(x) < 2:
        return x.astype(np.float32)
    radius = max(1, math.ceil(3 * sigma_frames))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (t / sigma_frames) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(x.astype(np.float64), radius, mode="edge")
    return np.convolve(padded, kernel, mode="valid").astype(np.float32)


def shift_earlier(x: np.ndarray, frames: int) -> np.ndarray:
    """``x`` moved ``frames`` earlier in time; the tail holds the last value."""
    if frames <= 0 or len(x) == 0:
        return x
    frames = min(frames, len(x))
    return np.concatenate([x[frames:], np.full(frames, x[-1], dtype=x.dtype)])


def mouth_curve(
    samples: np.ndarray,
    sample_rate: int,
    fps: float,
    n_frames: int,
    *,
    dynamic_scale: float = 1.0,
    lip_sync_align: bool = True,
    smooth_motion: bool = True,
) -> np.ndarray:
    """Mouth opening per video frame, float32 in [0, MAX_OPENING]; silence gives exact zeros."""
    # 1. loudness of the speech band per frame
    level = speech_level_db(samples, sample_rate, fps, n_frames)
    voiced = level > SILENCE_GATE_DB
    if not voiced.any():
        return np.zeros(n_frames, np.float32)
    # 2. normalise against the clip's own loud level, so quiet recordings still move the lips
    loud = float(np.percentile(level[voiced], 95))
    floor = max(loud - DYNAMIC_RANGE_DB, SILENCE_GATE_DB)
    opening = np.clip((level - floor) / max(loud - floor, 1e-3), 0.0, 1.0)
    opening[~voiced] = 0.0
    # 3. attack/release, alignment, smoothing, strength
    opening = follow(opening.astype(np.float32), fps)
    if lip_sync_align:
        opening = shift_earlier(opening, round(LIP_LEAD_S * fps))
    if smooth_motion:
        opening = smooth(opening, 0.7)
    opening = np.clip(opening * dynamic_scale, 0.0, MAX_OPENING)
    opening[opening < 0.01] = 0.0  # below 1 % (a fraction of a pixel) the mouth is closed
    return opening.astype(np.float32)


# NOTE: a weight-free viseme cue. Rounded vowels (/o/, /u/) have a low second formant, so their
# speech-band spectrum is darker (low centroid); spread vowels (/i/, /e/) and sibilants are brighter.
# Nasal murmur and the closure before /b/, /p/ leave energy only below ~400 Hz: the lips are shut.
SHAPE_BAND_HZ = (250.0, 4000.0)
CLOSED_LOW_HZ = 400.0
CLOSED_SHARE = 0.8  # frames whose voiced energy is at least this share below CLOSED_LOW_HZ are closures


def mouth_shape(
    samples: np.ndarray, sample_rate: int, fps: float, n_frames: int, *, smooth_motion: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per video frame: lip ``width`` in [-1, 1] (rounded .. wide) and ``closed`` in [0, 1] (m/b/p).

    Width follows the speech band's spectral centroid against the clip's own median (log ratio);
    ``closed`` marks voiced frames whose energy sits almost all below 400 Hz.
    """
    hop = sample_rate / fps
    win = max(64, round(2 * hop))
    nfft = 1 << (win - 1).bit_length()
    padded = np.concatenate(
        [np.zeros(win, np.float32), samples.astype(np.float32), np.zeros(win, np.float32)]
    )
    centres = (np.arange(n_frames) + 0.5) * hop + win
    starts = np.clip(np.round(centres - win / 2).astype(np.int64), 0, len(padded) - win)
    frames = padded[starts[:, None] + np.arange(win)[None, :]] * np.hanning(win).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(frames, n=nfft, axis=1)) ** 2
    freqs = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    band = (freqs >= SHAPE_BAND_HZ[0]) & (freqs <= SHAPE_BAND_HZ[1])
    voice = (freqs >= 80.0) & (freqs <= SHAPE_BAND_HZ[1])
    power = spectrum[:, band].sum(axis=1)
    total = spectrum[:, voice].sum(axis=1)
    width = np.zeros(n_frames, np.float32)
    closed = np.zeros(n_frames, np.float32)
    level = 10.0 * np.log10(total / (nfft * win * 0.375) + 1e-12)
    voiced = level > SILENCE_GATE_DB
    if voiced.sum() >= 3:
        centroid = (spectrum[:, band] * freqs[band][None, :]).sum(axis=1) / np.maximum(power, 1e-12)
        ratio = np.log(np.maximum(centroid[voiced], 1.0) / np.median(centroid[voiced]))
        width[voiced] = np.tanh(2.0 * ratio)
        low = spectrum[:, (freqs >= 80.0) & (freqs < CLOSED_LOW_HZ)].sum(axis=1) / np.maximum(total, 1e-12)
        closed[voiced] = np.clip((low[voiced] - CLOSED_SHARE) / (1.0 - CLOSED_SHARE), 0.0, 1.0)
    if smooth_motion:
        width, closed = smooth(width, 1.0), smooth(closed, 0.7)
    return width.astype(np.float32), np.clip(closed, 0.0, 1.0).astype(np.float32)
