"""Lip sync: the weight-free offset proxy finds a planted audio shift; SyncNet's LSE-D / LSE-C run
through the same loading code as the released weights (a narrow random-weight SyncNet here) and
are SKIPPED without weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gate_media import SPEECH, context, talking_head

from genserve.gates.lipsync import estimate_offset
from genserve.gates.measure import measure_asset
from genserve.gates.syncnet import build_model, mfcc


@pytest.mark.parametrize("delay", [0, 3, 5, -4])
def test_audio_shifted_by_k_frames_gives_offset_k(tmp_path: Path, delay: int) -> None:
    video = talking_head(tmp_path, audio_delay_frames=delay)
    m = measure_asset(
        context(tmp_path, video, task="talking-head", audio=SPEECH), ["av_offset", "av_sync_confidence"]
    )
    assert m["av_offset"].status == "ok", m["av_offset"].reason
    assert m["av_offset"].detail["signed_offset"] == pytest.approx(delay, abs=1)
    assert m["av_offset"].value == pytest.approx(abs(delay), abs=1)
    assert "mouth box" in m["av_offset"].detail["region"]  # the face was found, not the whole frame
    assert m["av_sync_confidence"].value > 0.5


def test_a_frozen_mouth_has_no_confidence() -> None:
    sound = np.sin(np.linspace(0, 20, 75))
    est = estimate_offset(np.zeros(75), sound)
    assert est.confidence == 0.0


def test_lse_is_skipped_without_weights(tmp_path: Path) -> None:
    video = talking_head(tmp_path, seconds=1.6)
    m = measure_asset(context(tmp_path, video, task="talking-head"), ["lse_d", "lse_c"])
    assert m["lse_d"].status == "skipped"
    assert "GENSERVE_GATE_SYNCNET_WEIGHTS" in (m["lse_d"].reason or "")
    assert m["lse_d"].value is None


def test_lse_with_local_syncnet_weights(tmp_path: Path) -> None:
    import torch

    torch.manual_seed(0)
    model = build_model(fc_dim=32, width=0.0625).eval()
    weights = tmp_path / "syncnet_tiny.model"
    torch.save(model.state_dict(), weights)
    video = talking_head(tmp_path, seconds=1.6)
    ctx = context(tmp_path, video, task="talking-head")
    ctx.settings = ctx.settings.model_copy(update={"gate_syncnet_weights": weights})
    m = measure_asset(ctx, ["lse_d", "lse_c"])
    assert m["lse_d"].status == "ok", m["lse_d"].reason
    assert m["lse_d"].value > 0 and np.isfinite(m["lse_d"].value)
    assert m["lse_c"].value >= 0  # median minus minimum
    assert -15 <= m["lse_d"].detail["offset"] <= 15


def test_mfcc_shape_and_rate() -> None:
    signal = np.random.default_rng(0).normal(size=16000) * 1000
    feats = mfcc(signal, 16000)
    # 10 ms steps over 25 ms frames: 1 + ceil((16000 - 400) / 160) = 99 (python_speech_features framing)
    assert feats.shape == (99, 13)
    assert np.isfinite(feats).all()


def test_released_syncnet_layout() -> None:
    """The full-width network has the released syncnet_v2 shapes (so its state dict loads)."""
    import torch

    model = build_model().eval()
    state = model.state_dict()
    assert state["netcnnaud.0.weight"].shape == (64, 1, 3, 3)
    assert state["netcnnlip.0.weight"].shape == (96, 3, 5, 7, 7)
    assert state["netfcaud.3.weight"].shape == (1024, 512)
    with torch.no_grad():
        assert model.forward_aud(torch.zeros(2, 1, 13, 20)).shape == (2, 1024)
        assert model.forward_lip(torch.zeros(2, 3, 5, 224, 224)).shape == (2, 1024)
