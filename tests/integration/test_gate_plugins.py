"""A plugin's video task is gated with no gate change: a GENSERVE_PLUGINS module registers a task
that makes a video (its own name, genserve's camera motion under another backend name) and a metric
of its own; the gate measures its videos with the container and temporal metrics, the plugin's
metric, and not image-to-video's own ones, and judges them."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from genserve.backends.registry import unregister
from genserve.config import Settings
from genserve.gates.pipeline import run_gate
from genserve.gates.registry import unregister_metric
from genserve.tasks import unregister_task

ASSETS = Path(__file__).resolve().parents[2] / "qa" / "assets"

PLUGIN = """
import dataclasses

from genserve.backends.camera import CameraBackend
from genserve.backends.registry import register
from genserve.gates.registry import metric, register_metric
from genserve.tasks import register_task
from genserve.tasks.image_to_video import SPEC

register_task(dataclasses.replace(SPEC, name="photo-motion", title="Photo motion",
                                  default_backends=("photo-camera",), presets={}))


@register
class PhotoCamera(CameraBackend):
    name = "photo-camera"
    task = "photo-motion"


@register_metric
@metric("mean_luma", unit="luma", direction="info", version="1",
        description="Mean luma of the frames", outputs=("video",))
def mean_luma(ctx):
    return float(ctx.gray().mean())
"""


@pytest.fixture()
def plugin(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "gs_photo_plugin.py").write_text(textwrap.dedent(PLUGIN))
    sys.path.insert(0, str(tmp_path))
    yield "gs_photo_plugin"
    sys.path.remove(str(tmp_path))
    sys.modules.pop("gs_photo_plugin", None)
    unregister_metric("mean_luma")
    unregister("photo-camera")
    unregister_task("photo-motion")


def test_a_plugin_video_task_gets_the_video_metrics(plugin: str, tmp_path: Path) -> None:
    suite = tmp_path / "photo.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "photo",
                "assets": str(ASSETS),
                "cases": [
                    {
                        "name": "motion",
                        "task": "photo-motion",
                        "params": {"resolution": "256p", "num_frames": 16, "fps": 8, "motion": "pan_left"},
                        "assets": [{"id": "sample", "image": "images/sample.jpg"}],
                    }
                ],
                "checks": [
                    {"metric": "codec_ok", "min": 1},
                    {"metric": "frozen_fraction", "max": 0.25},
                    {"metric": "duration_error", "max": 0.05},
                    {"metric": "mean_luma", "min": 1},
                ],
            }
        )
    )
    settings = Settings(plugins=plugin, data_dir=tmp_path / "data")
    gate = run_gate(suite, report_dir=tmp_path / "report", settings=settings)
    asset = gate.results.cases[0].assets[0]
    assert asset.job.backend == "photo-camera" and asset.job.succeeded
    measured = {name for name, m in asset.metrics.items() if m.status == "ok"}
    assert {"codec_ok", "frozen_fraction", "flicker", "sharpness", "duration_error", "mean_luma"} <= measured
    assert not {"first_frame_ssim", "av_offset", "cer"} & set(asset.metrics)  # other tasks' own
    assert gate.results.metrics["mean_luma"].outputs == ["video"]
    assert gate.judgement.status == "pass", gate.judgement.failed
    assert [c.evaluated for c in gate.judgement.checks[1:]] == [1, 1, 1, 1]
