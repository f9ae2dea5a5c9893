"""The speech → mouth-opening curve on synthetic signals whose loud and silent spans are known."""

from __future__ import annotations

import numpy as np
import pytest

from genserve.backends.mouth_curve import LIP_LEAD_S, MAX_OPENING, mouth_curve, mouth_shape, speech_level_db

SR, FPS = 16000, 25


def voice(seconds: float, level: float = 0.3, f0: float = 140.0) -> np.ndarray:
    """A vowel-like harmonic complex (energy across the speech band)."""
    t = np.arange(int(seconds * SR)) / SR
    sig = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 25))
    return (level * sig / np.abs(sig).max()).astype(np.float32)


def clip(*parts: tuple[str, float]) -> np.ndarray:
    return np.concatenate(
        [voice(s) if kind == "v" else np.zeros(int(s * SR), np.float32) for kind, s in parts]
    )


def curve(samples: np.ndarray, **kw: object) -> np.ndarray:
    n = round(len(samples) / SR * FPS)
    return mouth_curve(samples, SR, FPS, n, **kw)  # type: ignore[arg-type]


def test_level_of_a_full_scale_sine_is_minus_3_dbfs() -> None:
    t = np.arange(SR) / SR
    level = speech_level_db(np.sin(2 * np.pi * 1000 * t).astype(np.float32), SR, FPS, 25)
    assert level[5:20] == pytest.approx(-3.0, abs=0.5)


def test_silence_gives_exact_zeros() -> None:
    assert not curve(np.zeros(2 * SR, np.float32)).any()


def test_burst_opens_the_mouth_and_it_closes_after() -> None:
    c = curve(clip(("s", 1.0), ("v", 1.0), ("s", 1.0)), lip_sync_align=False)
    assert len(c) == 75
    assert c[:20].max() == 0.0  # before the sound (the analysis window reaches 1 frame ahead)
    assert c[30:48].min() > 0.6  # during the vowel
    assert c[65:].max() == 0.0  # well after it


def test_attack_is_faster_than_release() -> None:
    c = curve(clip(("s", 1.0), ("v", 1.0), ("s", 1.0)), lip_sync_align=False, smooth_motion=False)
    top = c.max()
    rise = np.flatnonzero(c > 0.9 * top)[0] - np.flatnonzero(c > 0.1 * top)[0]
    last_high = np.flatnonzero(c > 0.9 * top)[-1]
    fall = np.flatnonzero(c[last_high:] < 0.1 * top)[0]
    assert rise < fall


def test_lip_sync_align_moves_the_lips_ahead_of_the_sound() -> None:
    samples = clip(("s", 1.0), ("v", 1.0), ("s", 1.0))
    late = curve(samples, lip_sync_align=False)
    early = curve(samples, lip_sync_align=True)
    onset = lambda c: int(np.flatnonzero(c > 0.2)[0])  # noqa: E731
    assert onset(late) - onset(early) == round(LIP_LEAD_S * FPS)


def test_dynamic_scale_scales_the_amplitude() -> None:
    samples = clip(("s", 0.5), ("v", 1.0), ("s", 0.5))
    base = curve(samples, dynamic_scale=1.0)
    strong = curve(samples, dynamic_scale=1.5)
    assert strong.max() == pytest.approx(1.5 * base.max(), rel=1e-4)
    assert curve(samples, dynamic_scale=3.0).max() == pytest.approx(MAX_OPENING)
    assert not curve(samples, dynamic_scale=0.0).any()


def test_a_quiet_recording_moves_the_lips_as_much_as_a_loud_one() -> None:
    samples = clip(("s", 0.5), ("v", 1.0), ("s", 0.5))
    loud, quiet = curve(samples), curve(samples * 0.03)  # -30 dB
    assert quiet.max() == pytest.approx(loud.max(), rel=0.05)


def test_rumble_below_the_speech_band_does_not_move_the_lips() -> None:
    t = np.arange(2 * SR) / SR
    rumble = (0.5 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    samples = np.concatenate([voice(0.5), rumble])
    c = curve(samples)
    assert c[:10].max() > 0.5
    assert c[30:].max() == 0.0


def test_smooth_motion_softens_frame_to_frame_jumps() -> None:
    syllables = np.concatenate([clip(("v", 0.12), ("s", 0.08)) for _ in range(10)])
    raw = curve(syllables, smooth_motion=False)
    soft = curve(syllables, smooth_motion=True)
    assert np.abs(np.diff(soft)).max() < 0.8 * np.abs(np.diff(raw)).max()


def test_video_longer_than_the_audio_keeps_the_mouth_closed_at_the_end() -> None:
    samples = voice(1.0)
    c = mouth_curve(samples, SR, FPS, 40)
    assert len(c) == 40
    assert c[38:].max() == 0.0


def test_mouth_shape_rounds_wides_and_closes() -> None:
    sr, fps = 16000, 25
    t = np.arange(sr) / sr

    def tone(*freqs: float) -> np.ndarray:
        return np.sum([np.sin(2 * np.pi * f * t) for f in freqs], axis=0).astype(np.float32) * 0.1

    # a dark vowel, a middle one, a bright one, then a hum with energy only below 400 Hz (/m/)
    samples = np.concatenate([tone(300, 600), tone(300, 1200), tone(300, 2500), tone(150, 300)])
    width, closed = mouth_shape(samples, sr, fps, 100, smooth_motion=False)
    assert width[5:20].mean() < -0.2 and width[55:70].mean() > 0.2
    assert closed[80:95].mean() > 0.8 and closed[5:70].max() < 0.2
    assert mouth_shape(np.zeros(sr, np.float32), sr, fps, 25)[0].max() == 0.0
