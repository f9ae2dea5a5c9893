"""Gate metrics are registered like tasks and backends: genserve's own listed once (every decorated
metric of the gates modules), an installed package's through the ``genserve.metrics`` entry-point
group (a wrong object listed as broken with its reason), and each declares what it measures: a task
that makes a video, whatever its name, gets the video metrics."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from genserve import plugins
from genserve.cli import app
from genserve.gates.measure import metrics_for
from genserve.gates.registry import BUILTIN, METRICS, Metric, all_metrics, get_metric, metric
from genserve.tasks import MediaInput, TaskSpec, register_task, unregister_task

MODULES = ("container", "temporal", "lipsync", "fidelity", "recognition", "documents", "cost")
VIDEO = {"codec_ok", "duration_error", "flicker", "frozen_fraction", "black_fraction", "sharpness", "fid"}
COST = {"inference_time", "job_time", "peak_gpu_memory", "peak_cpu_memory"}


class NoParams(BaseModel):
    pass


def test_builtin_lists_every_metric_the_gates_modules_define() -> None:
    defined = {}
    for module in MODULES:
        mod = importlib.import_module(f"genserve.gates.{module}")
        for attr, obj in vars(mod).items():
            if isinstance(obj, Metric):
                defined[obj.name] = f"genserve.gates.{module}:{attr}"
    assert defined == BUILTIN
    assert list(all_metrics()) == list(BUILTIN)
    assert get_metric("flicker").outputs == ("video",) and get_metric("lse_d").tasks == ("talking-head",)


@pytest.mark.parametrize(
    ("output", "gets", "not_gets"), [("video", VIDEO | COST, {"lse_d", "cer"}), ("json", COST, VIDEO)]
)
def test_a_plugin_task_gets_the_metrics_of_its_output_kind(
    output: str, gets: set[str], not_gets: set[str]
) -> None:
    register_task(
        TaskSpec(
            name="plugin-task",
            title="Plugin",
            description="A task from a plugin",
            params_model=NoParams,
            inputs=(MediaInput("image", "image"),),
            output=output,  # type: ignore[arg-type]
        )
    )
    try:
        names = {m.name for m in metrics_for("plugin-task")}
    finally:
        unregister_task("plugin-task")
    assert gets <= names and not (not_gets & names)
    assert "first_frame_ssim" not in names  # image-to-video's own stays with it
    assert {m.name for m in metrics_for("no-such-task")} == COST  # an unknown task: every-task metrics only


def test_a_metric_declares_known_output_kinds() -> None:
    with pytest.raises(ValueError, match="outputs must be among"):
        metric("m", unit="", direction="info", version="1", description="", outputs=("hologram",))(
            lambda c: 0.0
        )
    with pytest.raises(ValueError, match="scope must be"):
        metric("m", unit="", direction="info", version="1", description="", scope="batch")(lambda c: 0.0)  # type: ignore[arg-type]
    made = metric("twice", unit="", direction="higher", version="1", description="")(lambda x: 2.0 * x)
    assert made(3) == 6.0 and made.applies_to("recognize")  # still callable; no kinds = every task


@pytest.fixture()
def metric_dist(tmp_path: Path) -> Iterator[Path]:
    """An installed package that adds a metric through the ``genserve.metrics`` entry-point group."""
    (tmp_path / "gs_metric_pkg.py").write_text(
        textwrap.dedent(
            """
            from genserve.gates.registry import metric

            @metric("mean_luma", unit="luma", direction="info", version="1",
                    description="Mean luma of the frames", outputs=("video",))
            def mean_luma(ctx):
                return float(ctx.gray().mean())

            NOT_A_METRIC = len
            """
        )
    )
    dist = tmp_path / "gs_metric_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gs-metric-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[genserve.metrics]\nmean_luma = gs_metric_pkg:mean_luma\nnot-a-metric = gs_metric_pkg:NOT_A_METRIC\n"
    )
    sys.path.insert(0, str(tmp_path))
    METRICS.reset()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("gs_metric_pkg", None)
    METRICS.reset()


def test_metrics_come_from_the_entry_point_group(metric_dist: Path) -> None:
    assert get_metric("mean_luma").outputs == ("video",)
    assert "mean_luma" in {m.name for m in metrics_for("image-to-video")}
    assert "not-a-metric" not in METRICS
    (found,) = [b for b in plugins.broken() if b.name == "not-a-metric"]
    assert found.kind == "metric" and "is not a genserve gate metric" in found.reason
    out = CliRunner().invoke(app, ["gate", "metrics", "--json"]).output
    rows = json.loads(out)
    luma = next(r for r in rows if r["name"] == "mean_luma")
    assert luma["outputs"] == ["video"] and luma["tasks"] == []
    assert any(r.get("broken") and r["name"] == "not-a-metric" for r in rows)
    text = CliRunner().invoke(app, ["gate", "metrics"]).output
    assert "broken plugins (not loaded)" in text
    assert any(line.startswith("mean_luma") and "video output" in line for line in text.splitlines())
