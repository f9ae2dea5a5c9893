"""The portrait backend end to end: a real portrait and real speech become an MP4, checked on its frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from genserve.config import Settings
from genserve.jobs import JobRequest, run_job
from genserve.media.audio import load_audio, write_wav
from genserve.media.video import encode_video, probe_video, read_frames
from genserve.tasks.base import JobResult

FPS = 25


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("portrait") / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)  # public domain (NASA)
    return path


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("portrait-run")
    return Settings(output_dir=root / "outputs", data_dir=root / "data")


def talk(settings: Settings, image: Path, audio: Path, **params: object) -> JobResult:
    request = JobRequest(
        task="talking-head",
        inputs={"image": image, "audio": audio},
        params={"min_resolution": 256, **params},
        backend="portrait",
    )
    return run_job(request, settings=settings)


def frame_levels_db(audio: Path, n_frames: int) -> np.ndarray:
    """Loudness of the audio under each video frame, measured here (not by the backend)."""
    clip = load_audio(audio)
    hop = clip.sample_rate // FPS
    out = []
    for i in range(n_frames):
        chunk = clip.samples[i * hop : (i + 1) * hop]
        rms = float(np.sqrt(np.mean(chunk**2))) if len(chunk) else 0.0
        out.append(20 * np.log10(max(rms, 1e-10)))
    return np.array(out)


def mouth(frames: np.ndarray, box: list[int]) -> np.ndarray:
    x, y, w, h = box
    return frames[:, y : y + h, x : x + w].astype(np.float32)


@pytest.fixture(scope="module")
def speech_result(module_settings: Settings, portrait: Path, speech_wav: Path) -> JobResult:
    return talk(module_settings, portrait, speech_wav, seed=3)


def test_video_has_the_audio_and_lasts_as_long(speech_result: JobResult, speech_wav: Path) -> None:
    assert speech_result.status == "succeeded", speech_result.message
    video = speech_result.output("video.mp4")
    assert video is not None
    info = probe_video(video.path)
    audio_len = load_audio(speech_wav).duration
    assert info.codec == "h264" and info.fps == FPS
    assert (info.width, info.height) == (256, 256)  # min_resolution, capped at the 512-px portrait
    assert info.has_audio and info.audio_codec == "aac"
    assert abs(info.duration - audio_len) <= 1 / FPS
    assert info.audio_duration is not None and abs(info.audio_duration - audio_len) <= 1 / FPS
    assert speech_result.parameters["frames"] == info.num_frames == round(audio_len * FPS)
    assert speech_result.parameters["duration"] == pytest.approx(audio_len, abs=1e-3)


def test_mouth_moves_with_loud_speech_and_rests_in_pauses(speech_result: JobResult, speech_wav: Path) -> None:
    video = speech_result.output("video.mp4")
    assert video is not None
    frames = read_frames(video.path)
    level = frame_levels_db(speech_wav, len(frames))
    silent = level < -100
    # pauses: silent frames whose neighbours (80 ms around) are silent too
    pauses = np.array([silent[max(0, i - 2) : i + 3].all() for i in range(len(frames))])
    loud = level > -22
    assert pauses.sum() >= 5 and loud.sum() >= 10
    box = speech_result.parameters["mouth_box"]
    region = mouth(frames, box)
    rest = mouth(still_frame(speech_result)[None], box)[0]  # the portrait's own closed mouth
    opened = np.abs(region - rest).mean(axis=(1, 2, 3))  # how far the mouth is from rest
    motion = np.abs(np.diff(region, axis=0)).mean(axis=(1, 2, 3))  # frame i vs i-1
    assert opened[loud].mean() > 3 * opened[pauses].mean()
    assert motion[loud[1:]].mean() > 1.3 * motion[pauses[1:]].mean()
    # the open mouth shows a dark gap: loud frames are darker in the mouth region than pauses
    brightness = region.mean(axis=(1, 2, 3))
    assert brightness[loud].mean() < brightness[pauses].mean() - 5


def still_frame(result: JobResult) -> np.ndarray:
    """The still portrait cropped and scaled like the video (the rest pose), computed here."""
    x0, y0, x1, y1 = result.parameters["crop_box"]
    size = (result.parameters["width"], result.parameters["height"])
    interpolation = cv2.INTER_CUBIC if size[0] > x1 - x0 else cv2.INTER_AREA  # enlarging: cubic
    return cv2.resize(skimage.data.astronaut()[y0:y1, x0:x1], size, interpolation=interpolation)


def test_pure_silence_gives_a_closed_still_mouth(
    tmp_path: Path, module_settings: Settings, portrait: Path, speech_wav: Path
) -> None:
    speech = load_audio(speech_wav)
    sr = speech.sample_rate
    samples = np.concatenate(
        [speech.samples[: sr // 2], np.zeros(3 * sr, np.float32), speech.samples[: sr // 2]]
    )
    audio = write_wav(tmp_path / "pause.wav", samples, sr)
    result = talk(module_settings, portrait, audio, motion_scale=0.0, seed=5)
    assert result.status == "succeeded", result.message
    video = result.output("video.mp4")
    assert video is not None
    frames = read_frames(video.path)
    region = mouth(frames, result.parameters["mouth_box"])
    box = result.parameters["mouth_box"]
    still = still_frame(result)
    rest = mouth(still[None], box)[0]  # the portrait's own closed mouth
    # what the codec alone does to that still mouth: the floor any "closed" frame can reach
    encode_video([still] * 3, tmp_path / "still.mp4", fps=FPS)
    floor = np.abs(mouth(read_frames(tmp_path / "still.mp4"), box) - rest).mean(axis=(1, 2, 3)).max()
    quiet = slice(round(1.2 * FPS), round(3.4 * FPS))  # well inside the 0.5-3.5 s silence
    speaking = slice(2, round(0.45 * FPS))
    distance = np.abs(region - rest).mean(axis=(1, 2, 3))
    assert distance[quiet].max() < floor + 0.5, (distance[quiet], floor)  # closed: the portrait's mouth
    assert np.abs(np.diff(region[quiet], axis=0)).mean(axis=(1, 2, 3)).max() < 1.0  # still
    assert distance[speaking].max() > 4 * distance[quiet].max()  # and it did move while speaking


def test_no_face_is_a_clear_error(module_settings: Settings, landscape_png: Path, speech_wav: Path) -> None:
    result = talk(module_settings, landscape_png, speech_wav)
    assert result.status == "failed" and result.error == "invalid_input"
    assert result.message is not None and "image: no face found: use a frontal portrait" in result.message
    assert result.outputs == []
    assert not list(Path(module_settings.output_dir).glob(f"*/{result.job_id}"))


def test_silent_audio_is_refused(tmp_path: Path, module_settings: Settings, portrait: Path) -> None:
    audio = write_wav(tmp_path / "silence.wav", np.zeros(32000, np.float32), 16000)
    result = talk(module_settings, portrait, audio)
    assert result.status == "failed" and result.error == "invalid_input"
    assert result.message is not None and "audio: is silent" in result.message


def test_undecodable_and_too_long_audio_are_refused(
    tmp_path: Path, module_settings: Settings, portrait: Path, speech_wav: Path
) -> None:
    bogus = tmp_path / "speech.wav"
    bogus.write_text("this is not audio")
    result = talk(module_settings, portrait, bogus)
    assert result.error == "unsupported_media" and "audio" in (result.message or "")
    short_limit = module_settings.model_copy(update={"max_audio_seconds": 2.0})
    result = talk(short_limit, portrait, speech_wav)
    assert result.error == "too_large" and "longer than the limit of 2 s" in (result.message or "")


@pytest.fixture(scope="module")
def short_speech(tmp_path_factory: pytest.TempPathFactory, speech_wav: Path) -> tuple[Path, float]:
    clip = load_audio(speech_wav)
    samples = clip.samples[: int(1.5 * clip.sample_rate)]
    path = write_wav(tmp_path_factory.mktemp("short") / "short.wav", samples, clip.sample_rate)
    return path, len(samples) / clip.sample_rate


def test_duration_rule_through_run_job(
    module_settings: Settings, portrait: Path, short_speech: tuple[Path, float]
) -> None:
    audio, length = short_speech
    ok = talk(module_settings, portrait, audio, duration=round(length + 0.4, 3))
    assert ok.status == "succeeded", ok.message
    video = ok.output("video.mp4")
    assert video is not None
    assert probe_video(video.path).num_frames == round((length + 0.4) * FPS)
    refused = talk(module_settings, portrait, audio, duration=round(length - 0.6, 3))
    assert refused.status == "failed" and refused.error == "invalid_input"
    assert refused.message is not None
    assert "duration:" in refused.message and f"({length:.2f} s)" in refused.message
    assert f"{length - 0.6:.2f}" in refused.message and "0.60 s away" in refused.message


@pytest.mark.parametrize(("offset", "exit_code"), [(-0.4, 0), (0.6, 2)])
def test_duration_rule_through_the_cli(
    cli_env: dict[str, str],
    portrait: Path,
    short_speech: tuple[Path, float],
    offset: float,
    exit_code: int,
) -> None:
    audio, length = short_speech
    duration = round(length + offset, 3)
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "genserve"),
            "run",
            "talking-head",
            "--image",
            str(portrait),
            "--audio",
            str(audio),
            "--set",
            "min_resolution=256",
            "--set",
            f"duration={duration}",
            "-q",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == exit_code, proc.stderr
    if exit_code == 0:
        assert '"status": "succeeded"' in proc.stdout
    else:
        assert f"audio's length ({length:.2f} s)" in proc.stderr
        assert f"got {duration}" in proc.stderr and "Traceback" not in proc.stderr


def test_warnings_for_few_steps_and_strong_dynamics(
    module_settings: Settings, portrait: Path, short_speech: tuple[Path, float]
) -> None:
    result = talk(module_settings, portrait, short_speech[0], inference_steps=10, dynamic_scale=1.5)
    assert result.status == "succeeded", result.message
    text = " | ".join(result.warnings)
    # the portrait backend takes no steps: it says so, and not "below 20: may jitter" as well
    assert "inference_steps is not used by the portrait backend" in text and "below 20" not in text
    assert "dynamic_scale=1.5 is above 1.2" in text
    assert "inference_steps is not used by the portrait backend" in text


def test_cancel_mid_video_leaves_no_output(
    module_settings: Settings, portrait: Path, speech_wav: Path
) -> None:
    steps: list[int] = []
    request = JobRequest(
        task="talking-head",
        inputs={"image": portrait, "audio": speech_wav},
        params={"min_resolution": 256},
        backend="portrait",
    )
    result = run_job(
        request,
        settings=module_settings,
        on_progress=lambda step, total, msg: steps.append(step),
        is_canceled=lambda: len(steps) >= 10,
    )
    assert result.status == "canceled" and result.error == "canceled"
    assert 10 <= max(steps) < 141
    assert not list(Path(module_settings.output_dir).glob(f"*/{result.job_id}"))
