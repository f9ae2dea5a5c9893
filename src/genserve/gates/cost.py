"""Cost metrics, read from the job result: time spent generating and peak memory."""

from __future__ import annotations

from genserve.gates.context import MeasureContext
from genserve.gates.registry import MetricSkipped, metric


def _number(ctx: MeasureContext, *keys: str) -> float:
    node: object = ctx.result
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    if node is None:
        raise MetricSkipped(f"the job result has no {'.'.join(keys)}")
    return float(node)  # type: ignore[arg-type]


@metric(
    "inference_time",
    unit="s",
    direction="lower",
    version="1",
    description="Seconds the backend spent generating (timings.run; excludes load and encode)",
)
def inference_time(ctx: MeasureContext) -> float:
    return _number(ctx, "timings", "run")


@metric(
    "job_time",
    unit="s",
    direction="lower",
    version="1",
    description="Seconds the whole job took (duration_sec: validate, load, run, encode)",
)
def job_time(ctx: MeasureContext) -> float:
    return _number(ctx, "duration_sec")


@metric(
    "peak_gpu_memory",
    unit="MB",
    direction="lower",
    version="1",
    description="Peak GPU memory of the job (SKIPPED on CPU)",
)
def peak_gpu_memory(ctx: MeasureContext) -> float:
    return _number(ctx, "peak_memory", "gpu_mb")


@metric(
    "peak_cpu_memory",
    unit="MB",
    direction="lower",
    version="1",
    description="Peak resident memory of the process during the job",
)
def peak_cpu_memory(ctx: MeasureContext) -> float:
    return _number(ctx, "peak_memory", "cpu_rss_mb")
