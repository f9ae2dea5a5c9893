"""The diffusers image-to-video backends end to end, on tiny random-weight pipelines built here.

Each pipeline is built from configs, saved with ``save_pretrained`` and loaded back through the real
backend code (a local folder, or a hub id found in a hub-layout cache, offline), on CPU at 32x32,
2 steps, 1 torch thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from tiny_pipelines import BUILDERS, build_i2vgen_xl, square_png

from genserve.backends.diffusers_adapter import DiffusersBackend
from genserve.backends.registry import describe_backends, resolve_backend
from genserve.config import Settings
from genserve.jobs import JobRequest, run_job
from genserve.jobs.runner import BackendCache
from genserve.media.video import probe_video, read_frames

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SMALL = {"resolution": "256p", "num_frames": 4, "fps": 6, "steps": 2, "seed": 7, "prompt": "waves rolling"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipelines")
    return {name: build(root / name) for name, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub-layout cache (refs/main + snapshots/<commit>/) holding a tiny i2vgen-xl with fp16 names."""
    cache = tmp_path_factory.mktemp("hub-cache")
    repo = cache / "models--ali-vilab--i2vgen-xl"
    build_i2vgen_xl(repo / "snapshots" / COMMIT, variant="fp16")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return cache


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return square_png(tmp_path / "square.png")


@pytest.fixture
def tiny_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "i2v_max_short_side": 32,
            "offline": True,
            "device": "cpu",
            "model_cache_dir": tmp_path / "empty-cache",
        }
    )


def _run(settings: Settings, image: Path, backend: str | None, model: str | None, **kw: Any) -> Any:
    params = {**SMALL, **kw.pop("params", {})}
    request = JobRequest(
        task="image-to-video", inputs={"image": image}, params=params, backend=backend, model=model
    )
    return run_job(request, settings=settings, cache=kw.pop("cache", None) or BackendCache(1), **kw)


def test_cli_runs_i2vgen_xl_from_a_local_dir(
    built: dict[str, Path], image: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **cli_env,
        "GENSERVE_I2V_MAX_SHORT_SIDE": "32",
        "GENSERVE_OFFLINE": "1",
        "GENSERVE_DEVICE": "cpu",
        "GENSERVE_MODEL_CACHE_DIR": str(tmp_path / "empty-cache"),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [sys.executable, "-c", "from genserve.cli import main; main()", "run", "image-to-video"]
    cmd += ["--image", str(image), "--prompt", "a boat", "--backend", "i2vgen-xl"]
    cmd += ["--model", str(built["i2vgen-xl"]), "-q"]
    cmd += ["--set", "num_frames=5", "--set", "fps=6", "--set", "steps=2", "--set", "seed=11"]
    proc = subprocess.run(
        cmd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["status"] == "succeeded" and result["backend"] == "i2vgen-xl"
    video = Path(result["outputs"][0]["path"])
    info = probe_video(video)
    assert (info.num_frames, info.fps, info.width, info.height) == (5, 6.0, 32, 32)
    assert info.codec == "h264"
    assert result["parameters"]["fps"] == 6 and result["parameters"]["seed"] == 11
    assert (
        result["provenance"]["model_source"] == "dir"
        and result["provenance"]["pipeline"] == "I2VGenXLPipeline"
    )
    assert any("GENSERVE_I2V_MAX_SHORT_SIDE" in w for w in result["warnings"])
    assert "motion" not in " ".join(result["warnings"])  # not asked for, so not warned about
    assert (video.parent / "result.json").is_file()


def test_same_seed_gives_identical_frames(
    built: dict[str, Path], image: Path, tiny_settings: Settings
) -> None:
    cache = BackendCache(1)
    model = str(built["i2vgen-xl"])
    runs = [
        _run(tiny_settings, image, "i2vgen-xl", model, cache=cache, params={"seed": s}) for s in (7, 7, 8)
    ]
    assert [r.status for r in runs] == ["succeeded"] * 3, [r.message for r in runs]
    frames = [read_frames(r.outputs[0].path) for r in runs]
    assert frames[0].shape == (4, 32, 32, 3)
    assert np.array_equal(frames[0], frames[1])
    assert not np.array_equal(frames[0], frames[2])
    assert runs[1].timings.load == 0.0  # warm: the loaded pipeline was reused


@pytest.mark.parametrize("name", ["svd", "ltx-video"])
def test_other_models_from_local_dirs(
    name: str, built: dict[str, Path], image: Path, tiny_settings: Settings
) -> None:
    steps: list[tuple[int, int]] = []
    result = _run(
        tiny_settings, image, name, str(built[name]), on_progress=lambda s, t, m: steps.append((s, t))
    )
    assert result.status == "succeeded", result.message
    info = probe_video(result.outputs[0].path)
    assert (info.num_frames, info.fps, info.width, info.height) == (4, 6.0, 32, 32)
    assert [s for s in steps if s[0] >= 0] == [(1, 2), (2, 2)]  # the pipeline's step callback
    if name == "svd":
        assert "prompt is not used by the svd backend" in result.warnings
    else:
        assert result.parameters["generated_frames"] == 9  # LTX makes 8k+1 frames; the video keeps 4


def test_progress_per_step_and_cancel_between_steps(
    built: dict[str, Path], image: Path, tiny_settings: Settings
) -> None:
    cache = BackendCache(1)
    model = str(built["i2vgen-xl"])
    steps: list[tuple[int, int]] = []
    done = _run(
        tiny_settings,
        image,
        "i2vgen-xl",
        model,
        cache=cache,
        on_progress=lambda s, t, m: steps.append((s, t)),
    )
    assert done.status == "succeeded"
    assert [s for s in steps if s[0] >= 0] == [
        (1, 2),
        (2, 2),
    ]  # scheduler hook: I2VGen-XL has no step callback
    seen: list[int] = []
    canceled = _run(
        tiny_settings,
        image,
        "i2vgen-xl",
        model,
        cache=cache,
        on_progress=lambda s, t, m: seen.append(s),
        is_canceled=lambda: bool(seen),
    )
    assert canceled.status == "canceled" and canceled.outputs == []
    assert seen == [1]  # stopped right after the first step
    assert not list(Path(tiny_settings.output_dir).rglob(f"{canceled.job_id}*"))


def _oom_on_first(calls: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import torch

    count: list[int] = []
    original = DiffusersBackend._call_pipeline

    def failing(self: DiffusersBackend, **kwargs: Any) -> Any:
        count.append(1)
        if len(count) <= calls:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(self, **kwargs)

    monkeypatch.setattr(DiffusersBackend, "_call_pipeline", failing)
    return count


def test_oom_at_the_pipeline_call_is_retried_down_the_ladder(
    built: dict[str, Path], image: Path, tiny_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _oom_on_first(3, monkeypatch)
    result = _run(tiny_settings, image, "i2vgen-xl", str(built["i2vgen-xl"]), params={"resolution": "384p"})
    assert result.status == "succeeded", result.message
    assert result.degraded == [
        "resolution 384p -> 256p",
        "memory-saving: decode_chunk_size=1",
        "memory-saving: vae_tiling",
    ]
    assert result.parameters["resolution"] == "256p"
    assert result.parameters["memory_saving"] == ["decode_chunk_size=1", "vae_tiling"]
    assert len(calls) == 4
    assert probe_video(result.outputs[0].path).num_frames == 4


def test_oom_past_every_mode_fails_cleanly(
    built: dict[str, Path], image: Path, tiny_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _oom_on_first(100, monkeypatch)
    result = _run(tiny_settings, image, "svd", str(built["svd"]))
    assert result.status == "failed" and result.error == "out_of_memory"
    # SVD's VAE has no tiling and CPU has no offload: one mode, then the ladder is spent
    assert "memory-saving: decode_chunk_size=1" in (result.message or "")
    assert result.outputs == []


def test_no_weights_falls_back_to_camera_and_says_how_to_pull(image: Path, tiny_settings: Settings) -> None:
    rows = {r["backend"]: r for r in describe_backends(tiny_settings, "image-to-video")}
    assert rows["i2vgen-xl"]["available"] is False
    assert rows["i2vgen-xl"]["install"] == "genserve models pull i2vgen-xl"
    assert rows["camera"]["default"] is True
    assert resolve_backend("image-to-video", None, tiny_settings).name == "camera"
    # asked for by name, offline, not cached: a clear error naming what to run where
    result = _run(tiny_settings, image, "i2vgen-xl", None)
    assert result.status == "failed" and result.error == "backend_unavailable"
    assert "genserve models pull" in (result.message or "") and "GENSERVE_OFFLINE" in (result.message or "")


def test_hub_id_from_the_cache_offline_is_the_default_with_its_revision(
    hub_cache: Path, image: Path, tiny_settings: Settings
) -> None:
    settings = tiny_settings.model_copy(update={"model_cache_dir": hub_cache})
    assert resolve_backend("image-to-video", None, settings).name == "i2vgen-xl"
    result = _run(settings, image, None, None)
    assert result.status == "succeeded", result.message
    assert result.backend == "i2vgen-xl" and result.model == "ali-vilab/i2vgen-xl"
    assert result.provenance["model_revision"] == COMMIT
    assert result.provenance["model_source"] == "hub"


def test_wrong_model_folders_are_refused_clearly(
    built: dict[str, Path], image: Path, tiny_settings: Settings, tmp_path: Path
) -> None:
    wrong = _run(tiny_settings, image, "i2vgen-xl", str(built["svd"]))
    assert wrong.error == "invalid_input"
    assert "StableVideoDiffusionPipeline" in (wrong.message or "") and "I2VGenXLPipeline" in (
        wrong.message or ""
    )
    (tmp_path / "empty").mkdir()
    empty = _run(tiny_settings, image, "i2vgen-xl", str(tmp_path / "empty"))
    assert empty.error == "invalid_input" and "model_index.json" in (empty.message or "")
    missing = _run(tiny_settings, image, "i2vgen-xl", str(tmp_path / "nope" / "x"))
    assert missing.error == "not_found"


def test_models_cli_lists_and_pulls_from_the_cache(
    hub_cache: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "GENSERVE_MODEL_CACHE_DIR": str(hub_cache), "GENSERVE_OFFLINE": "1"}
    cli = [sys.executable, "-c", "from genserve.cli import main; main()", "models"]
    listed = subprocess.run([*cli, "list", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    rows = {r["backend"]: r for r in json.loads(listed.stdout)}
    assert rows["i2vgen-xl"]["present"] is True and rows["i2vgen-xl"]["revision"] == COMMIT
    assert rows["svd"]["present"] is False
    pulled = subprocess.run([*cli, "pull", "i2vgen-xl"], env=env, capture_output=True, text=True, timeout=120)
    assert pulled.returncode == 0, pulled.stderr
    info = json.loads(pulled.stdout)
    assert info["revision"] == COMMIT and info["variant"] == "fp16" and info["bytes"] > 0
    absent = subprocess.run([*cli, "pull", "svd"], env=env, capture_output=True, text=True, timeout=120)
    assert absent.returncode == 4  # BackendUnavailable
    assert "genserve models pull svd" in absent.stderr and "GENSERVE_OFFLINE" in absent.stderr
    assert os.path.isdir(hub_cache)


def test_api_runs_i2vgen_xl_with_a_model_dir(
    built: dict[str, Path], image: Path, tiny_settings: Settings
) -> None:
    from fastapi.testclient import TestClient

    from genserve.api.app import create_app

    with TestClient(create_app(tiny_settings)) as client:
        response = client.post(
            "/v1/jobs",
            data={
                "task": "image-to-video",
                "backend": "i2vgen-xl",
                "model": str(built["i2vgen-xl"]),
                "params": json.dumps({**SMALL, "num_frames": 3, "fps": 5}),
            },
            files={"image": ("square.png", image.read_bytes(), "image/png")},
            headers={"Prefer": "wait=240"},
        )
        assert response.status_code == 200, response.text
        job = response.json()
        assert job["status"] == "succeeded", job
        result = job["result"]
        assert result["backend"] == "i2vgen-xl" and result["provenance"]["model_source"] == "dir"
        video = client.get(result["outputs"][0]["url"])
        assert video.status_code == 200
    path = image.parent / "from-api.mp4"
    path.write_bytes(video.content)
    info = probe_video(path)
    assert (info.num_frames, info.fps, info.width, info.height) == (3, 5.0, 32, 32)


def test_gpu_benchmark_builds_the_real_size_architectures_on_meta() -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "bench" / "gpu_i2v.py"
    spec = importlib.util.spec_from_file_location("gpu_i2v", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = {row["model"]: row["params_b"] for row in bench.check(list(bench.MODELS))}
    # published sizes: I2VGen-XL UNet ~1.4B, SVD UNet ~1.5B, LTX-Video transformer ~2B
    assert 1.3 < rows["i2vgen-xl"]["unet"] < 1.5
    assert 1.4 < rows["svd"]["unet"] < 1.6
    assert 1.8 < rows["ltx-video"]["transformer"] < 2.1
    assert rows["i2vgen-xl"]["image_encoder"] > 0.6  # OpenCLIP ViT-H/14
