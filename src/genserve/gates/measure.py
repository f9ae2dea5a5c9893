"""Measuring: run the registered metrics over the contexts of a case; nothing here judges."""

from __future__ import annotations

import logging

from genserve.errors import GenserveError
from genserve.gates.context import MeasureContext
from genserve.gates.registry import Measurement, Metric, MetricSkipped, all_metrics

log = logging.getLogger("genserve.gates")


def metrics_for(task: str, only: list[str] | None = None) -> list[Metric]:
    metrics = all_metrics()
    names = only if only is not None else list(metrics)
    return [metrics[n] for n in names if metrics[n].applies_to(task)]


def _measure(metric: Metric, ctx: MeasureContext, target: object) -> Measurement:
    try:
        if metric.weights is not None:
            metric.weights_path(ctx.settings)
        value = metric.compute(target)
        return Measurement(value=round(float(value), 6), detail=ctx.details.get(metric.name, {}))
    except MetricSkipped as exc:
        return Measurement(status="skipped", reason=str(exc))
    except GenserveError as exc:
        return Measurement(status="error", reason=exc.message)
    except Exception as exc:  # a metric bug must not hide the other measurements
        log.exception("metric %s failed", metric.name)
        return Measurement(status="error", reason=f"{type(exc).__name__}: {exc}")


def measure_asset(ctx: MeasureContext, only: list[str] | None = None) -> dict[str, Measurement]:
    """Every asset-level metric that applies to the context's task."""
    return {m.name: _measure(m, ctx, ctx) for m in metrics_for(ctx.task, only) if m.scope == "asset"}


def measure_case(
    contexts: list[MeasureContext], task: str, only: list[str] | None = None
) -> dict[str, Measurement]:
    """Set-level metrics (FID, KID) over all the contexts of one case."""
    ok = [c for c in contexts if c.video is not None or c.result]
    out: dict[str, Measurement] = {}
    for m in metrics_for(task, only):
        if m.scope != "case":
            continue
        if not ok:
            out[m.name] = Measurement(status="skipped", reason="no job of the case succeeded")
            continue
        out[m.name] = _measure(m, ok[0], ok)
    return out
