"""Container metrics and duration checks on real files; recognition and cost metrics on results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gate_media import context, encode, pan, speech, textured

from genserve.gates.measure import measure_asset
from genserve.gates.recognition import character_error_rate, edit_distance
from genserve.media.audio import write_wav


def test_container_facts(tmp_path: Path) -> None:
    video = encode(pan(textured(), 12, 1.0), tmp_path / "v.mp4", fps=8)
    result = {"parameters": {"num_frames": 12, "fps": 8}}
    m = measure_asset(context(tmp_path, video, result=result))
    assert (m["frame_count"].value, m["fps"].value, m["duration"].value) == (12, 8, 1.5)
    assert m["short_side"].value == 128 and m["short_side"].detail == {"width": 160, "height": 128}
    assert m["codec_ok"].value == 1.0 and m["codec_ok"].detail["codec"] == "h264"
    assert m["has_audio"].value == 0.0
    assert m["duration_error"].value == 0.0
    assert "av_duration_error" not in m  # a talking-head metric


def test_duration_mismatch_is_caught(tmp_path: Path) -> None:
    video = encode(pan(textured(), 12, 1.0), tmp_path / "v.mp4", fps=8)
    asked = {"parameters": {"num_frames": 16, "fps": 8}}  # 2 s asked, 1.5 s delivered
    m = measure_asset(context(tmp_path, video, result=asked))
    assert m["duration_error"].value == pytest.approx(0.5)
    assert m["duration_error"].detail == {"expected_s": 2.0, "video_s": 1.5}


def test_talking_head_duration_against_the_input_audio(tmp_path: Path) -> None:
    samples, sr = speech(3.0)
    full = write_wav(tmp_path / "full.wav", samples, sr)
    short = write_wav(tmp_path / "short.wav", samples[: 2 * sr], sr)
    # 3 s of frames, but the file's audio track stops at 2 s (a cut-off)
    video = encode(pan(textured(), 75, 0.5), tmp_path / "talk.mp4", fps=25, audio=short)
    m = measure_asset(context(tmp_path, video, task="talking-head", audio=full))
    assert m["has_audio"].value == 1.0
    assert m["duration_error"].value == pytest.approx(0.0, abs=0.01)
    assert m["av_duration_error"].value == pytest.approx(1.0, abs=0.05)
    # the video stops after 2 s of a 3 s input: a black tail or cut-off the gate must see
    video2 = encode(pan(textured(), 50, 0.5), tmp_path / "cut.mp4", fps=25, audio=full)
    m2 = measure_asset(context(tmp_path, video2, task="talking-head", audio=full))
    assert m2["duration_error"].value == pytest.approx(1.0, abs=0.01)


def test_cer_and_recall(tmp_path: Path) -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert character_error_rate("质量门禁 2025", "质量门禁2025") == 0.0
    assert character_error_rate("ＧＥＮＳＥＲＶＥ", "genserve") == 0.0  # NFKC + case folding
    assert character_error_rate("abcd", "abxd") == pytest.approx(0.25)
    result = {
        "text_blocks": [{"text": "质量门"}, {"text": "禁 2025"}],
        "objects": [
            {"label": "cat", "score": 0.9},
            {"label": "dog", "score": 0.5},
            {"label": "car", "score": 0.1},
        ],
        "parameters": {"top_k": 2},
    }
    ctx = context(tmp_path, None, task="recognize", result=result)  # type: ignore[arg-type]
    ctx.expected = {"text": "质量门禁 2026", "labels": ["cat", "car"]}
    m = measure_asset(ctx)
    assert m["cer"].value == pytest.approx(1 / 8)
    assert m["label_recall"].value == 0.5  # car is ranked third, outside top_k=2
    assert m["label_recall"].detail["missing"] == ["car"]
    ctx2 = context(tmp_path, None, task="recognize", result=result)  # type: ignore[arg-type]
    m2 = measure_asset(ctx2)
    assert m2["cer"].status == "skipped" and "expected text" in (m2["cer"].reason or "")


def test_cost_from_the_result(tmp_path: Path) -> None:
    result = {
        "timings": {"run": 1.25},
        "duration_sec": 2.0,
        "peak_memory": {"cpu_rss_mb": 300.0, "gpu_mb": None},
    }
    ctx = context(tmp_path, None, task="recognize", result=result)  # type: ignore[arg-type]
    m = measure_asset(ctx, ["inference_time", "job_time", "peak_gpu_memory", "peak_cpu_memory"])
    assert m["inference_time"].value == 1.25 and m["job_time"].value == 2.0
    assert m["peak_cpu_memory"].value == 300.0
    assert m["peak_gpu_memory"].status == "skipped"  # not measured on CPU: never a pass by default


def test_a_broken_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(2000))
    m = measure_asset(context(tmp_path, bad))
    assert m["duration"].status == "error"
    assert "cannot be read as video" in (m["duration"].reason or "")
