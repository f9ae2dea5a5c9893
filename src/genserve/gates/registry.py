"""The metric registry: every quality metric declares its name, unit, direction, version and weights.

A metric is a pure function over the media of one generated asset (a :class:`MeasureContext`), or,
for set-level metrics (FID, KID), over all assets of a case. It returns a number, or raises
:class:`MetricSkipped` when it cannot be measured here (its weights are missing, the video has no
audio, ...). A skipped metric is reported as SKIPPED and never counts as passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from genserve.errors import NotFound

if TYPE_CHECKING:
    from genserve.config import Settings


class Direction(StrEnum):
    HIGHER = "higher"  # higher is better
    LOWER = "lower"  # lower is better
    INFO = "info"  # recorded, not better or worse

    def worse(self, candidate: float, reference: float) -> float:
        """How much worse ``candidate`` is than ``reference`` (positive = worse; 0 for info)."""
        if self is Direction.HIGHER:
            return reference - candidate
        if self is Direction.LOWER:
            return candidate - reference
        return 0.0


class MetricSkipped(Exception):
    """The metric cannot be measured here; the reason says why and how to enable it."""


Scope = Literal["asset", "case"]


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    direction: Direction
    version: str
    description: str
    compute: Callable[..., float]
    tasks: tuple[str, ...] = ()  # tasks it applies to; () = every task
    weights: str | None = None  # the Settings field holding its local weights path; None = weight-free
    scope: Scope = "asset"  # "case": computed once over all assets of a case (FID, KID)

    def applies_to(self, task: str) -> bool:
        return not self.tasks or task in self.tasks

    def weights_path(self, settings: Settings) -> Path:
        """The local weights path, or MetricSkipped naming the setting to fill in."""
        assert self.weights is not None
        value = getattr(settings, self.weights, None)
        env = f"GENSERVE_{self.weights.upper()}"
        if value is None:
            raise MetricSkipped(f"needs local weights: set {env}")
        path = Path(value)
        if not path.exists():
            raise MetricSkipped(f"weights not found at {path} ({env})")
        return path

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name,
            unit=self.unit,
            direction=self.direction,
            version=self.version,
            description=self.description,
            tasks=list(self.tasks),
            weights=self.weights,
            scope=self.scope,
        )

    def describe(self) -> dict[str, Any]:
        return self.info().model_dump(mode="json")


class MetricInfo(BaseModel):
    """A metric as a results document records it (and `genserve gate metrics --json` lists it)."""

    name: str
    unit: str = ""
    direction: Direction = Direction.INFO
    version: str
    description: str = ""
    tasks: list[str] = Field(default_factory=list, description="Tasks it applies to; [] = every task")
    weights: str | None = Field(None, description="The setting naming its local weights; None = weight-free")
    scope: Scope = "asset"


class Measurement(BaseModel):
    """One metric measured on one asset (or one case, for set-level metrics)."""

    value: float | None = None
    status: Literal["ok", "skipped", "error"] = "ok"
    reason: str | None = Field(None, description="Why it was skipped or failed")
    detail: dict[str, Any] = Field(default_factory=dict, description="Extra facts (signed offset, codec...)")


METRICS: dict[str, Metric] = {}


def metric(
    name: str,
    *,
    unit: str,
    direction: Direction | str,
    version: str,
    description: str,
    tasks: tuple[str, ...] = (),
    weights: str | None = None,
    scope: Scope = "asset",
) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Register a metric function under ``name``."""

    def wrap(fn: Callable[..., float]) -> Callable[..., float]:
        METRICS[name] = Metric(
            name=name,
            unit=unit,
            direction=Direction(direction),
            version=version,
            description=description,
            compute=fn,
            tasks=tasks,
            weights=weights,
            scope=scope,
        )
        return fn

    return wrap


_MODULES = ("container", "temporal", "lipsync", "fidelity", "recognition", "documents", "cost")


def all_metrics() -> dict[str, Metric]:
    """Every registered metric (importing the metric modules on first use)."""
    import importlib

    for module in _MODULES:
        importlib.import_module(f"genserve.gates.{module}")
    return METRICS


def get_metric(name: str) -> Metric:
    metrics = all_metrics()
    if name not in metrics:
        raise NotFound(
            "unknown metric", argument="metric", value=name, fix=f"use one of: {', '.join(sorted(metrics))}"
        )
    return metrics[name]
