"""run_job end to end with the camera backend and with test backends that fail on purpose."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image

from genserve.backends.base import Backend, Progress, RunOutput, VideoOutput
from genserve.backends.camera import render_frames
from genserve.backends.registry import register, unregister
from genserve.config import Settings
from genserve.errors import OutOfMemory
from genserve.jobs import BackendCache, JobRequest, run_job
from genserve.media.video import probe_video, read_frames
from genserve.tasks.image_to_video import ImageToVideoParams, output_size, short_side_px


def _i2v(image: Path, **params: Any) -> JobRequest:
    return JobRequest(task="image-to-video", inputs={"image": image}, params=params, backend="camera")


def test_camera_job_writes_a_browser_playable_mp4(settings: Settings, landscape_png: Path) -> None:
    result = run_job(_i2v(landscape_png, prompt="camera zooming in slowly"), settings=settings)
    assert result.status == "succeeded", result.message
    video = result.output("video.mp4")
    assert video is not None and video.media_type == "video/mp4" and video.bytes > 1000
    info = probe_video(video.path)
    assert (info.num_frames, info.fps, info.short_side) == (16, 8.0, 512)
    assert (info.width, info.height) == (816, 512)  # 640x400 input: aspect kept
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    folder = Path(video.path).parent
    assert folder.parent.parent == settings.output_dir
    saved = json.loads((folder / "result.json").read_text())
    assert saved["job_id"] == result.job_id and saved["parameters"]["motion_preset"] == "zoom_in"
    assert isinstance(saved["parameters"]["seed"], int)  # recorded even when not asked for
    assert result.timings.run > 0 and result.timings.encode > 0
    assert result.peak_memory.cpu_rss_mb and result.peak_memory.cpu_rss_mb > 10
    assert result.provenance["genserve_version"] and result.provenance["backend"] == "camera"
    assert not list((settings.output_dir / ".staging").iterdir())


def test_same_request_gives_identical_frames(settings: Settings, landscape_png: Path) -> None:
    a = run_job(_i2v(landscape_png, resolution="256p", num_frames=6, motion="orbit"), settings=settings)
    b = run_job(_i2v(landscape_png, resolution="256p", num_frames=6, motion="orbit"), settings=settings)
    fa, fb = read_frames(a.outputs[0].path), read_frames(b.outputs[0].path)
    assert fa.shape == (6, 256, 408, 3)
    # the rendered frames are identical; the encoder may differ by a few grey levels (media/video.py)
    assert np.abs(fa.astype(np.int16) - fb).mean() < 0.5


def test_camera_motion_is_smooth_without_jitter(landscape_png: Path) -> None:
    """Pan: the content moves the same way every frame, accelerating then slowing (no back-and-forth).

    Measured on the rendered frames: the encoder's few grey levels of noise are not the camera's.
    """
    src = np.asarray(Image.open(landscape_png).convert("RGB"))
    frames = list(render_frames(src, 408, 256, 12, "pan_right", 1.0))
    # horizontal centroid of the white square, weighted by brightness above the background
    xs = []
    for f in frames:
        white = np.clip(f.min(axis=2).astype(np.float32) - 200, 0, None)
        xs.append(float((white.sum(axis=0) * np.arange(f.shape[1])).sum() / white.sum()))
    steps = np.diff(xs)
    assert (steps < 0).all()  # the camera moves right, so the content moves left, every frame
    assert xs[0] - xs[-1] > 20
    # eased: the middle step is the biggest, the ends the smallest
    assert abs(steps[len(steps) // 2]) > 2 * max(abs(steps[0]), abs(steps[-1]))


def test_warnings_name_parameters_the_backend_ignores(settings: Settings, landscape_png: Path) -> None:
    result = run_job(_i2v(landscape_png, resolution="256p", num_frames=2, steps=20), settings=settings)
    assert result.status == "succeeded"
    assert any("steps is not used by the camera backend" in w for w in result.warnings)


class _OOMAbove512(Backend):
    """Runs out of memory above 512p, like a model on a small GPU."""

    name = "test-oom"
    task = "image-to-video"
    loads: ClassVar[int] = 0

    def load(self, device: str) -> None:
        type(self).loads += 1
        super().load(device)

    def run(self, inputs: Any, params: ImageToVideoParams, progress: Progress) -> RunOutput:
        if short_side_px(params.resolution) > 512:
            raise OutOfMemory("CUDA out of memory. Tried to allocate 2.00 GiB")
        w, h = output_size(*inputs.image.size, short_side_px(params.resolution))
        frames = (np.full((h, w, 3), 10 * i, np.uint8) for i in range(params.num_frames))
        return RunOutput(videos=[VideoOutput(frames=frames, fps=params.fps)])


@pytest.fixture
def oom_backend() -> Iterator[type[_OOMAbove512]]:
    register(_OOMAbove512)
    _OOMAbove512.loads = 0
    yield _OOMAbove512
    unregister(_OOMAbove512.name)


def test_oom_at_768p_succeeds_at_512p_and_says_so(
    settings: Settings, landscape_png: Path, oom_backend: type[Backend]
) -> None:
    request = JobRequest(
        task="image-to-video",
        inputs={"image": landscape_png},
        params={"resolution": "768p", "num_frames": 4},
        backend="test-oom",
    )
    result = run_job(request, settings=settings, cache=BackendCache())
    assert result.status == "succeeded", result.message
    assert result.degraded == ["resolution 768p -> 512p"]
    assert result.parameters["resolution"] == "512p"
    assert probe_video(result.outputs[0].path).short_side == 512


def test_oom_past_the_ladder_fails_cleanly(settings: Settings, landscape_png: Path, oom_backend: Any) -> None:
    class AlwaysOOM(_OOMAbove512):
        name = "test-oom-always"

        def run(self, inputs: Any, params: ImageToVideoParams, progress: Progress) -> RunOutput:
            raise OutOfMemory("out of memory")

    register(AlwaysOOM)
    try:
        request = JobRequest(
            task="image-to-video",
            inputs={"image": landscape_png},
            params={"resolution": "512p"},
            backend="test-oom-always",
        )
        result = run_job(request, settings=settings, cache=BackendCache())
    finally:
        unregister(AlwaysOOM.name)
    assert result.status == "failed" and result.error == "out_of_memory"
    assert "512p -> 384p" in (result.message or "") and "num_frames 16 -> 8" in (result.message or "")
    assert not settings.output_dir.exists() or not any(settings.output_dir.glob("*/*/video.mp4"))


def test_backends_stay_warm_across_jobs(settings: Settings, landscape_png: Path, oom_backend: Any) -> None:
    cache = BackendCache()
    for _ in range(3):
        result = run_job(
            JobRequest(
                task="image-to-video",
                inputs={"image": landscape_png},
                params={"resolution": "256p", "num_frames": 2},
                backend="test-oom",
            ),
            settings=settings,
            cache=cache,
        )
        assert result.status == "succeeded"
    assert oom_backend.loads == 1
    assert cache.loaded() == [("test-oom", None, "cpu")]


def test_cancel_between_steps_leaves_no_output(settings: Settings, landscape_png: Path) -> None:
    seen: list[int] = []
    cancel = threading.Event()

    def on_progress(step: int, total: int, message: str | None) -> None:
        seen.append(step)
        if step == 3:
            cancel.set()

    result = run_job(
        _i2v(landscape_png, resolution="256p", num_frames=10),
        settings=settings,
        on_progress=on_progress,
        is_canceled=cancel.is_set,
    )
    assert result.status == "canceled" and result.error == "canceled"
    assert max(seen) == 3
    assert not any(settings.output_dir.glob("*/*/video.mp4"))


def test_unexpected_bug_is_reported_without_a_traceback(settings: Settings, landscape_png: Path) -> None:
    class Broken(_OOMAbove512):
        name = "test-broken"

        def run(self, inputs: Any, params: Any, progress: Progress) -> RunOutput:
            raise KeyError("internal detail")

    register(Broken)
    try:
        request = JobRequest(task="image-to-video", inputs={"image": landscape_png}, backend="test-broken")
        result = run_job(request, settings=settings, cache=BackendCache())
    finally:
        unregister(Broken.name)
    assert result.status == "failed" and result.error == "internal_error"
    assert "KeyError" in (result.message or "") and "Traceback" not in (result.message or "")
    assert result.job_id in (result.message or "")


def test_provenance_reads_ci_variables(
    settings: Settings, landscape_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("CI_COMMIT_SHA", "abc123")
    monkeypatch.setenv("CI_COMMIT_REF_NAME", "feature/x")
    monkeypatch.setenv("CI_PIPELINE_ID", "42")
    result = run_job(_i2v(landscape_png, resolution="256p", num_frames=2), settings=settings)
    p = result.provenance
    assert (p["git_commit"], p["git_branch"], p["ci_run"], p["ci_system"]) == (
        "abc123",
        "feature/x",
        "42",
        "gitlab",
    )


def test_invalid_input_never_creates_an_output_folder(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("hello, I am text")
    result = run_job(_i2v(bad), settings=settings)
    assert result.status == "failed" and result.error == "unsupported_media"
    assert result.message and result.message.startswith("image: not a recognised image")
    assert not settings.output_dir.exists() or not any(settings.output_dir.glob("*/*"))
