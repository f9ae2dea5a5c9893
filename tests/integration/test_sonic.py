"""The sonic adapter against a stand-in checkout: a tiny ``sonic.py`` with upstream Sonic's interface
(``Sonic(device_id)``, ``preprocess``, ``crop_image``, ``process``, tqdm progress on stderr, an MP4
written by ffmpeg), run as a real subprocess, so mapping, process handling, limits and errors are real."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import skimage.data
from PIL import Image

from genserve.backends.sonic import REQUIRED_WEIGHTS
from genserve.config import Settings
from genserve.jobs import JobRequest, run_job
from genserve.jobs.runner import BackendCache
from genserve.media.audio import load_audio
from genserve.media.video import probe_video
from genserve.tasks.base import JobResult

STAND_IN = r'''
"""Stand-in for github.com/jixiaozhong/Sonic's sonic.py (same interface; no model)."""
import json, os, subprocess, sys, time, wave

import cv2
import imageio_ffmpeg
from PIL import Image

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
CONTROL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "control.json")
{extra_import}

class Sonic:
    def __init__(self, device_id=0, enable_interpolate_frame=True):
        ckpt = os.path.join(BASE_DIR, "checkpoints")
        open(os.path.join(ckpt, "Sonic", "unet.pth")).close()  # reads its weights from BASE_DIR
        self.control = json.load(open(CONTROL))
        self.record = {{"device_id": device_id, "checkpoints": os.path.realpath(ckpt)}}
        with open(self.control["pid_file"], "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(self.control.get("load_s", 0))

    def preprocess(self, image_path, expand_ratio=1.0):
        grey = cv2.cvtColor(cv2.imread(image_path), cv2.COLOR_BGR2GRAY)
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        faces = cascade.detectMultiScale(grey, 1.1, 5, minSize=(32, 32))
        if len(faces):
            x, y, w, h = faces[0]
            pad = int(expand_ratio * max(w, h))
            bbox_s = [max(0, x - pad), max(0, y - pad), x + w + pad, y + h + pad]
        self.record["expand_ratio"] = expand_ratio
        return {{"face_num": len(faces), "crop_bbox": bbox_s}}  # like upstream: unbound without a face

    def crop_image(self, input_image_path, output_image_path, crop_bbox):
        Image.open(input_image_path).crop(tuple(crop_bbox)).save(output_image_path)

    def process(self, image_path, audio_path, output_path, min_resolution=512, inference_steps=25,
                dynamic_scale=1.0, seed=None):
        limit = self.control.get("oom_above")
        if limit and min_resolution > limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
        self.record.update(min_resolution=min_resolution, inference_steps=inference_steps,
                           dynamic_scale=dynamic_scale, seed=seed, image_size=Image.open(image_path).size,
                           audio_path=audio_path)
        with open(self.control["record"], "w") as fh:
            json.dump(self.record, fh)
        for i in range(inference_steps):
            time.sleep(self.control.get("step_s", 0))
            done = 100 * (i + 1) // inference_steps
            sys.stderr.write("\r%3d%%|#   | %d/%d [00:00<00:00, 9.9it/s]" % (done, i + 1, inference_steps))
            sys.stderr.flush()
        sys.stderr.write("\n")
        side = min_resolution // 2 * 2
        with wave.open(audio_path) as wav:
            seconds = wav.getnframes() / wav.getframerate()
        gray = "color=c=gray:s=%dx%d:r=25" % (side, side)
        subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", gray, "-i", audio_path,
                        "-t", "%.3f" % seconds, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                        output_path], check=True)
        return 0
'''


class StandIn:
    def __init__(self, root: Path, extra_import: str = "") -> None:
        self.checkout = root / "Sonic"
        self.checkpoints = root / "weights"  # kept outside the checkout, as GENSERVE_SONIC_CHECKPOINTS
        self.checkout.mkdir(parents=True)
        (self.checkout / "sonic.py").write_text(STAND_IN.format(extra_import=extra_import))
        for name in REQUIRED_WEIGHTS:
            path = self.checkpoints / name
            if "." in Path(name).name:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"weights")
            else:
                path.mkdir(parents=True, exist_ok=True)
        self.record = root / "record.json"
        self.pid_file = root / "pid"
        self.control()

    def control(self, **kw: Any) -> None:
        data = {"record": str(self.record), "pid_file": str(self.pid_file), **kw}
        (self.checkout / "control.json").write_text(json.dumps(data))

    def recorded(self) -> dict[str, Any]:
        return dict(json.loads(self.record.read_text()))

    def alive(self) -> bool:
        try:
            os.kill(int(self.pid_file.read_text()), 0)
        except ProcessLookupError:
            return False
        return True

    def settings(self, tmp: Path, **kw: Any) -> Settings:
        return Settings(
            output_dir=tmp / "outputs",
            data_dir=tmp / "data",
            sonic_dir=self.checkout,
            sonic_checkpoints=self.checkpoints,
            sonic_python=Path(sys.executable),
            **kw,
        )


@pytest.fixture
def stand_in(tmp_path: Path) -> StandIn:
    return StandIn(tmp_path / "stand-in")


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("portrait") / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    return path


def sonic(settings: Settings, image: Path, audio: Path, **kw: Any) -> JobResult:
    params = kw.pop("params", {})
    request = JobRequest(
        task="talking-head", inputs={"image": image, "audio": audio}, params=params, backend="sonic"
    )
    return run_job(request, settings=settings, cache=BackendCache(1), **kw)


def test_parameters_are_mapped_and_progress_streams(
    tmp_path: Path, stand_in: StandIn, portrait: Path, speech_wav: Path
) -> None:
    steps: list[tuple[int, int]] = []
    messages: list[str] = []

    def on_progress(step: int, total: int, message: str | None) -> None:
        if step >= 0:
            steps.append((step, total))
        elif message:
            messages.append(message)

    params = {"min_resolution": 320, "expand_ratio": 0.3, "inference_steps": 12, "dynamic_scale": 1.15}
    params |= {"seed": 7, "motion_scale": 1.2, "smooth_motion": False}
    result = sonic(stand_in.settings(tmp_path), portrait, speech_wav, params=params, on_progress=on_progress)
    assert result.status == "succeeded", result.message
    rec = stand_in.recorded()
    assert (rec["min_resolution"], rec["inference_steps"], rec["dynamic_scale"], rec["seed"]) == (
        320,
        12,
        1.15,
        7,
    )
    assert rec["expand_ratio"] == 0.3 and rec["device_id"] == -1  # CPU here
    assert rec["checkpoints"] == str(stand_in.checkpoints.resolve())  # the configured weights dir
    assert rec["image_size"][0] < 512  # Sonic got the face crop, not the whole portrait
    assert rec["audio_path"] == str(speech_wav)  # no duration asked: the original audio
    assert steps[-1] == (12, 12) and len(steps) >= 2
    assert "sonic: load" in messages and "sonic: generate" in messages
    video = result.output("video.mp4")
    assert video is not None
    info = probe_video(video.path)
    assert info.has_audio and info.width == 320
    assert abs(info.duration - load_audio(speech_wav).duration) < 0.1
    text = " | ".join(result.warnings)
    assert "motion_scale is not used by the sonic backend" in text
    assert "smooth_motion is not used by the sonic backend" in text
    assert "inference_steps=12 is below 20" in text
    assert result.provenance["sonic_checkout"] == str(stand_in.checkout.resolve())


def test_duration_trims_the_audio(
    tmp_path: Path, stand_in: StandIn, portrait: Path, speech_wav: Path
) -> None:
    length = load_audio(speech_wav).duration
    want = round(length - 0.4, 3)
    result = sonic(
        stand_in.settings(tmp_path), portrait, speech_wav, params={"min_resolution": 256, "duration": want}
    )
    assert result.status == "succeeded", result.message
    assert result.parameters["audio_seconds"] == want
    video = result.output("video.mp4")
    assert video is not None
    assert abs(probe_video(video.path).duration - want) < 0.1
    assert not Path(stand_in.recorded()["audio_path"]).exists()  # the cut audio was a temp file, cleaned up


def test_run_timeout_kills_the_process(
    tmp_path: Path, stand_in: StandIn, portrait: Path, speech_wav: Path
) -> None:
    stand_in.control(step_s=1.0)
    settings = stand_in.settings(tmp_path, run_timeout_s=2.0)
    result = sonic(settings, portrait, speech_wav, params={"min_resolution": 256, "inference_steps": 30})
    assert result.status == "failed" and result.error == "timeout"
    assert result.duration_sec < 15
    assert not stand_in.alive()
    assert not list((tmp_path / "outputs").glob(f"*/{result.job_id}"))


def test_load_timeout(tmp_path: Path, stand_in: StandIn, portrait: Path, speech_wav: Path) -> None:
    stand_in.control(load_s=60)
    result = sonic(stand_in.settings(tmp_path, load_timeout_s=1.0), portrait, speech_wav)
    assert result.error == "timeout" and "loading Sonic took longer than 1 s" in (result.message or "")
    assert not stand_in.alive()


def test_cancel_kills_the_process(
    tmp_path: Path, stand_in: StandIn, portrait: Path, speech_wav: Path
) -> None:
    stand_in.control(step_s=0.3)
    steps: list[int] = []
    result = sonic(
        stand_in.settings(tmp_path),
        portrait,
        speech_wav,
        params={"min_resolution": 256, "inference_steps": 40},
        on_progress=lambda step, total, msg: steps.append(step),
        is_canceled=lambda: any(s >= 2 for s in steps),
    )
    assert result.status == "canceled"
    assert max(steps) < 40
    assert not stand_in.alive()


def test_out_of_memory_steps_down_the_resolution(
    tmp_path: Path, stand_in: StandIn, portrait: Path, speech_wav: Path
) -> None:
    stand_in.control(oom_above=512)
    result = sonic(stand_in.settings(tmp_path), portrait, speech_wav, params={"min_resolution": 1024})
    assert result.status == "succeeded", result.message
    assert result.degraded == ["min_resolution 1024 -> 768", "min_resolution 768 -> 512"]
    assert stand_in.recorded()["min_resolution"] == 512


def test_no_face(tmp_path: Path, stand_in: StandIn, landscape_png: Path, speech_wav: Path) -> None:
    result = sonic(stand_in.settings(tmp_path), landscape_png, speech_wav)
    assert result.error == "invalid_input"
    assert "image: no face found: use a frontal portrait" in (result.message or "")


def test_missing_checkout_explains_the_install(tmp_path: Path, portrait: Path, speech_wav: Path) -> None:
    result = sonic(Settings(output_dir=tmp_path / "o", data_dir=tmp_path / "d"), portrait, speech_wav)
    assert result.error == "backend_unavailable"
    message = result.message or ""
    assert "no Sonic checkout is configured (GENSERVE_SONIC_DIR)" in message
    assert "git clone https://github.com/jixiaozhong/Sonic" in message
    assert "huggingface-cli download LeonJoe13/Sonic" in message
    not_sonic = Settings(output_dir=tmp_path / "o", data_dir=tmp_path / "d", sonic_dir=tmp_path)
    result = sonic(not_sonic, portrait, speech_wav)
    assert result.error == "backend_unavailable" and "is not a Sonic checkout (no sonic.py)" in (
        result.message or ""
    )


def test_missing_weights_and_python_are_named(
    tmp_path: Path, stand_in: StandIn, portrait: Path, speech_wav: Path
) -> None:
    (stand_in.checkpoints / "RIFE" / "flownet.pkl").unlink()
    result = sonic(stand_in.settings(tmp_path), portrait, speech_wav)
    message = result.message or ""
    assert result.error == "backend_unavailable"
    assert "Sonic's weights are missing" in message and "RIFE/flownet.pkl" in message
    assert "huggingface-cli download LeonJoe13/Sonic" in message
    settings = stand_in.settings(tmp_path).model_copy(update={"sonic_python": tmp_path / "nope" / "python"})
    result = sonic(settings, portrait, speech_wav)
    assert result.error == "backend_unavailable" and "nope/python does not exist" in (result.message or "")


def test_sonic_that_cannot_import_its_dependencies(tmp_path: Path, portrait: Path, speech_wav: Path) -> None:
    broken = StandIn(tmp_path / "broken", extra_import="import omegaconf_not_installed  # noqa")
    result = sonic(broken.settings(tmp_path), portrait, speech_wav, params={"min_resolution": 256})
    message = result.message or ""
    assert result.error == "backend_unavailable"
    assert "Sonic cannot be imported" in message and "omegaconf_not_installed" in message
    assert "pip install -r" in message
