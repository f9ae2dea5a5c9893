"""The metric registry: every quality metric declares its name, unit, direction, version and weights,
and what it measures: the jobs whose output is of a kind (``outputs=("video",)``: every task that
makes a video, a plugin's included), or named tasks (``tasks=("talking-head",)``), or every job.

A metric is a pure function over the media of one generated asset (a :class:`MeasureContext`), or,
for set-level metrics (FID, KID), over all assets of a case. It returns a number, or raises
:class:`MetricSkipped` when it cannot be measured here (its weights are missing, the video has no
audio, ...). A skipped metric is reported as SKIPPED and never counts as passed.

Metrics are registered like tasks and backends (:mod:`genserve.plugins`): genserve's own are listed
in ``BUILTIN``; a package adds one through the entry-point group ``genserve.metrics``::

    [project.entry-points."genserve.metrics"]
    colorfulness = "my_package.metrics:colorfulness"     # a function decorated with @metric(...)

and a module named in ``GENSERVE_PLUGINS`` calls :func:`register_metric` (usable as a decorator
above ``@metric``) as it is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from genserve import plugins
from genserve.errors import NotFound
from genserve.tasks import TASKS
from genserve.tasks.base import OUTPUT_KINDS

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
    tasks: tuple[str, ...] = ()  # tasks it applies to by name
    outputs: tuple[str, ...] = ()  # ... and tasks whose output is of these kinds; neither = every task
    weights: str | None = None  # the Settings field holding its local weights path; None = weight-free
    scope: Scope = "asset"  # "case": computed once over all assets of a case (FID, KID)

    def __post_init__(self) -> None:
        wrong = [o for o in self.outputs if o not in OUTPUT_KINDS]
        if wrong:
            raise ValueError(f"metric {self.name!r}: outputs must be among {OUTPUT_KINDS}, not {wrong}")
        if self.scope not in ("asset", "case"):
            raise ValueError(f"metric {self.name!r}: scope must be 'asset' or 'case', not {self.scope!r}")

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        return self.compute(*args, **kwargs)

    def applies_to(self, task: str) -> bool:
        """Whether the metric measures jobs of TASK: named in ``tasks``, or making one of ``outputs``."""
        if not self.tasks and not self.outputs:
            return True
        if task in self.tasks:
            return True
        spec = TASKS.get(task) if self.outputs else None
        return spec is not None and spec.output in self.outputs

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
            outputs=list(self.outputs),
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
    tasks: list[str] = Field(default_factory=list, description="Tasks it applies to by name")
    outputs: list[str] = Field(
        default_factory=list, description="...and tasks making these outputs; neither = every task"
    )
    weights: str | None = Field(None, description="The setting naming its local weights; None = weight-free")
    scope: Scope = "asset"


class Measurement(BaseModel):
    """One metric measured on one asset (or one case, for set-level metrics)."""

    value: float | None = None
    status: Literal["ok", "skipped", "error"] = "ok"
    reason: str | None = Field(None, description="Why it was skipped or failed")
    detail: dict[str, Any] = Field(default_factory=dict, description="Extra facts (signed offset, codec...)")


ENTRY_POINT_GROUP = "genserve.metrics"

# name -> "module:attribute"; one line per metric genserve ships
BUILTIN: dict[str, str] = {
    "duration": "genserve.gates.container:duration",
    "fps": "genserve.gates.container:fps",
    "frame_count": "genserve.gates.container:frame_count",
    "short_side": "genserve.gates.container:short_side",
    "codec_ok": "genserve.gates.container:codec_ok",
    "has_audio": "genserve.gates.container:has_audio",
    "duration_error": "genserve.gates.container:duration_error",
    "av_duration_error": "genserve.gates.container:av_duration_error",
    "flicker": "genserve.gates.temporal:flicker",
    "dynamic_degree": "genserve.gates.temporal:dynamic_degree",
    "motion": "genserve.gates.temporal:motion",
    "frozen_fraction": "genserve.gates.temporal:frozen_fraction",
    "black_fraction": "genserve.gates.temporal:black_fraction",
    "first_frame_ssim": "genserve.gates.temporal:first_frame_ssim",
    "first_frame_psnr": "genserve.gates.temporal:first_frame_psnr",
    "sharpness": "genserve.gates.temporal:sharpness",
    "av_offset": "genserve.gates.lipsync:av_offset",
    "av_sync_confidence": "genserve.gates.lipsync:av_sync_confidence",
    "lse_d": "genserve.gates.lipsync:lse_d",
    "lse_c": "genserve.gates.lipsync:lse_c",
    "lip_gap_sync": "genserve.gates.lipsync:lip_gap_sync",
    "lip_gap_lag": "genserve.gates.lipsync:lip_gap_lag",
    "lower_upper_lip_ratio": "genserve.gates.lipsync:lower_upper_lip_ratio",
    "mouth_flat_share": "genserve.gates.lipsync:mouth_flat_share",
    "fid": "genserve.gates.fidelity:fid",
    "kid": "genserve.gates.fidelity:kid",
    "clip_score": "genserve.gates.fidelity:clip_score",
    "cer": "genserve.gates.recognition:cer",
    "label_recall": "genserve.gates.recognition:label_recall",
    "field_accuracy": "genserve.gates.documents:field_accuracy",
    "item_recall": "genserve.gates.documents:item_recall",
    "table_cell_accuracy": "genserve.gates.documents:table_cell_accuracy",
    "inference_time": "genserve.gates.cost:inference_time",
    "job_time": "genserve.gates.cost:job_time",
    "peak_gpu_memory": "genserve.gates.cost:peak_gpu_memory",
    "peak_cpu_memory": "genserve.gates.cost:peak_cpu_memory",
}


def _a_metric(obj: Any) -> Metric:
    if not isinstance(obj, Metric):
        raise TypeError(f"{obj!r} is not a genserve gate metric (decorate the function with @metric(...))")
    return obj


METRICS: plugins.Registry[Metric] = plugins.Registry(
    "metric", ENTRY_POINT_GROUP, BUILTIN, accept=_a_metric, name_of=lambda m: m.name
)


def metric(
    name: str,
    *,
    unit: str,
    direction: Direction | str,
    version: str,
    description: str,
    tasks: tuple[str, ...] = (),
    outputs: tuple[str, ...] = (),
    weights: str | None = None,
    scope: Scope = "asset",
) -> Callable[[Callable[..., float]], Metric]:
    """Make the function a metric named ``name`` (still callable as before). genserve's own are
    listed in BUILTIN; a plugin's are registered with :func:`register_metric` or an entry point."""

    def wrap(fn: Callable[..., float]) -> Metric:
        return Metric(
            name=name,
            unit=unit,
            direction=Direction(direction),
            version=version,
            description=description,
            compute=fn,
            tasks=tasks,
            outputs=outputs,
            weights=weights,
            scope=scope,
        )

    return wrap


def register_metric(m: Metric) -> Metric:
    """Make ``m`` measurable by every suite (a plugin module, tests). Usable as a decorator."""
    return METRICS.register(m)


def unregister_metric(name: str) -> None:
    METRICS.unregister(name)


def all_metrics() -> plugins.Registry[Metric]:
    """Every registered metric, by name: genserve's own, entry points, GENSERVE_PLUGINS modules."""
    return METRICS


def get_metric(name: str) -> Metric:
    metrics = all_metrics()
    if name not in metrics:
        raise NotFound(
            "unknown metric", argument="metric", value=name, fix=f"use one of: {', '.join(sorted(metrics))}"
        )
    return metrics[name]
