"""The portrait backend's landmark path, measured the way a viewer would see it: 68-point landmarks
found independently on the output video (the face detected again, on decoded H.264 frames).

A portrait and a sentence that are not in the repository (a second espeak-ng voice, made here) must
give an inner-lip gap that follows the loudness and a lower lip that travels at least twice as far
as the upper lip. Planted defects (the Haar path's lifted upper lip, a frozen mouth, a mouth opening
5 frames late, a flat slab in the opening) each fail the gate's thresholds.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from genserve.backends import portrait_landmarks
from genserve.backends.mouth_curve import mouth_curve
from genserve.backends.portrait_face import crop_box, detect_face, output_size
from genserve.backends.portrait_mouth import LandmarkMouth
from genserve.backends.portrait_warp import PortraitRig
from genserve.config import Settings
from genserve.gates.context import MeasureContext
from genserve.gates.registry import get_metric
from genserve.jobs import JobRequest, run_job
from genserve.media.audio import load_audio
from genserve.media.video import encode_video
from genserve.tasks.base import JobResult

pytestmark = pytest.mark.skipif(
    not portrait_landmarks.available(), reason="needs the landmarks extra: pip install 'genserve[landmarks]'"
)
FPS = 25
# the gate's thresholds for these metrics (the acceptance figures)
MIN_SYNC, MIN_RATIO, MAX_LAG, MAX_FLAT = 0.5, 2.0, 1.0, 0.3


@pytest.fixture(scope="module")
def other_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng for a recording that is not in the repository")
    path = tmp_path_factory.mktemp("speech") / "other.wav"
    text = "Would you open the window? My brother bought a bright blue boat."
    subprocess.run(
        ["espeak-ng", "-v", "en+f3", "-s", "140", "-w", str(path), text], check=True, capture_output=True
    )
    return path


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("landmark-run")
    return Settings(output_dir=root / "outputs", data_dir=root / "data")


def portrait(tmp: Path, rgb: np.ndarray, name: str) -> Path:
    path = tmp / name
    Image.fromarray(rgb).save(path)
    return path


def talk(settings: Settings, image: Path, audio: Path, resolution: int = 256) -> JobResult:
    request = JobRequest(
        task="talking-head",
        inputs={"image": image, "audio": audio},
        params={"min_resolution": resolution, "seed": 2},
        backend="portrait",
    )
    result = run_job(request, settings=settings)
    assert result.status == "succeeded", result.message
    return result


def measure(settings: Settings, video: Path | str, *names: str) -> dict[str, float]:
    ctx = MeasureContext(task="talking-head", settings=settings, video=Path(video))
    return {name: get_metric(name).compute(ctx) for name in names}


ALL = ("lip_gap_sync", "lip_gap_lag", "lower_upper_lip_ratio", "mouth_flat_share")


def test_astronaut_speaks_with_the_jaw(tmp_path: Path, settings: Settings, other_speech: Path) -> None:
    result = talk(settings, portrait(tmp_path, skimage.data.astronaut(), "a.png"), other_speech)
    assert result.parameters["face_detector"] == "dlib-68"
    assert "non-commercial" in result.parameters["face_model"]
    video = result.output("video.mp4")
    assert video is not None
    m = measure(settings, video.path, *ALL)
    assert m["lip_gap_sync"] >= MIN_SYNC, m
    assert m["lower_upper_lip_ratio"] >= MIN_RATIO, m
    assert m["lip_gap_lag"] <= MAX_LAG, m
    assert m["mouth_flat_share"] <= MAX_FLAT, m


def test_another_face_at_another_size(tmp_path: Path, settings: Settings, other_speech: Path) -> None:
    # the astronaut mirrored, shrunk and placed off-centre on a wider canvas: a different face box,
    # crop and scale (the only face image the registry packages ship)
    face = cv2.resize(skimage.data.astronaut()[:, ::-1], (300, 300), interpolation=cv2.INTER_AREA)
    canvas = np.full((440, 640, 3), 205, np.uint8)
    canvas[100:400, 300:600] = face
    result = talk(settings, portrait(tmp_path, canvas, "b.png"), other_speech, resolution=320)
    assert result.parameters["face_detector"] == "dlib-68"
    video = result.output("video.mp4")
    assert video is not None
    m = measure(settings, video.path, "lip_gap_sync", "lower_upper_lip_ratio")
    assert m["lip_gap_sync"] >= MIN_SYNC and m["lower_upper_lip_ratio"] >= MIN_RATIO, m


def test_without_the_extra_the_haar_path_runs_and_says_so(
    tmp_path: Path, settings: Settings, other_speech: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback runs and names itself; its lifted upper lip is the defect the ratio gate catches."""
    monkeypatch.setattr(portrait_landmarks, "available", lambda: False)
    result = talk(settings, portrait(tmp_path, skimage.data.astronaut(), "a.png"), other_speech)
    assert result.parameters["face_detector"] == "haar"
    assert "genserve[landmarks]" in result.parameters["face_model"]
    video = result.output("video.mp4")
    assert video is not None
    monkeypatch.undo()  # measure with landmarks again
    m = measure(settings, video.path, "lip_gap_sync", "lower_upper_lip_ratio")
    assert m["lower_upper_lip_ratio"] < MIN_RATIO, m  # the old slab above the teeth: fails the gate


@pytest.fixture(scope="module")
def rig_and_curve(other_speech: Path) -> tuple[PortraitRig, np.ndarray]:
    src = skimage.data.astronaut()
    face = detect_face(src)
    x0, y0, x1, y1 = crop_box(face, 512, 512, 0.18)
    size = output_size(x1 - x0, y1 - y0, 256, 512)
    base = cv2.resize(src[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    layout = face.mapped(size[0] / (x1 - x0), size[1] / (y1 - y0), x0, y0)
    clip = load_audio(other_speech)
    n = round(clip.duration * FPS)
    return PortraitRig(base, layout), mouth_curve(clip.samples, clip.sample_rate, FPS, n)


def planted(tmp: Path, rig: PortraitRig, opening: np.ndarray, audio: Path) -> Path:
    frames = (rig.render(float(o), 0.0, 0.0, 0.0, 0.0) for o in opening)
    path = tmp / "planted.mp4"
    encode_video(frames, path, fps=FPS, audio_path=audio)
    return path


def test_planted_frozen_mouth_fails(
    tmp_path: Path, settings: Settings, other_speech: Path, rig_and_curve: tuple[PortraitRig, np.ndarray]
) -> None:
    rig, opening = rig_and_curve
    m = measure(settings, planted(tmp_path, rig, np.zeros_like(opening), other_speech), "lip_gap_sync")
    assert m["lip_gap_sync"] < MIN_SYNC, m


def test_planted_late_mouth_fails(
    tmp_path: Path, settings: Settings, other_speech: Path, rig_and_curve: tuple[PortraitRig, np.ndarray]
) -> None:
    rig, opening = rig_and_curve
    late = np.concatenate([np.zeros(5, np.float32), opening[:-5]])
    m = measure(settings, planted(tmp_path, rig, late, other_speech), "lip_gap_sync", "lip_gap_lag")
    assert m["lip_gap_sync"] >= MIN_SYNC and m["lip_gap_lag"] > MAX_LAG, m
    on_time = measure(settings, planted(tmp_path, rig, opening, other_speech), "lip_gap_lag")
    assert on_time["lip_gap_lag"] <= MAX_LAG, on_time


def test_planted_flat_slab_fails(
    tmp_path: Path,
    settings: Settings,
    other_speech: Path,
    rig_and_curve: tuple[PortraitRig, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rig, opening = rig_and_curve

    def slab(
        self: LandmarkMouth, top: np.ndarray, bot: np.ndarray, centre: float, gap: float, band: slice
    ) -> np.ndarray:
        return np.full((*self.gx[band].shape, 3), 70.0, np.float32)  # one grey over the whole opening

    monkeypatch.setattr(LandmarkMouth, "_paint", slab)
    m = measure(settings, planted(tmp_path, rig, opening, other_speech), "mouth_flat_share")
    assert m["mouth_flat_share"] > MAX_FLAT, m
