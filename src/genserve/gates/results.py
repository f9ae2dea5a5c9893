"""The results document of a gate run, typed: what was generated and measured, case by case and
asset by asset. It is the source of truth (``results.json``); judging and every report read it.

The on-disk shape is ``Results.model_dump(mode="json", by_alias=True)`` plus, once judged, a
``judgement`` key (see report_json.py); pipelines and ``genserve ci notify`` read those keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from genserve.gates.registry import Measurement, MetricInfo

RESULTS_SCHEMA = "genserve.gate.results/1"
JOB_KEYS = (
    "job_id",
    "status",
    "error",
    "message",
    "backend",
    "model",
    "device",
    "duration_sec",
    "timings",
    "peak_memory",
    "parameters",
    "warnings",
    "degraded",
    "outputs",
)


class JobSummary(BaseModel):
    """What the gate keeps of one job's result (in-process or from a server) and its local video."""

    job_id: str | None = None
    status: str | None = None
    error: str | None = None
    message: str | None = None
    backend: str | None = None
    model: str | None = None
    device: str | None = None
    duration_sec: float | None = None
    timings: dict[str, Any] | None = None
    peak_memory: dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None
    warnings: list[str] | None = None
    degraded: list[str] | None = None
    outputs: list[dict[str, Any]] | None = None
    video: str | None = Field(None, description="The generated video on this machine, when there is one")

    @classmethod
    def of(cls, result: dict[str, Any], video: str | None) -> JobSummary:
        return cls.model_validate({**{k: result.get(k) for k in JOB_KEYS}, "video": video})

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


class AssetResult(BaseModel):
    """One asset of a case: its inputs, what was expected, its job and its measurements."""

    id: str
    inputs: dict[str, str] = Field(default_factory=dict)
    expect: dict[str, Any] = Field(default_factory=dict)
    job: JobSummary
    metrics: dict[str, Measurement] = Field(default_factory=dict)


class CaseResult(BaseModel):
    name: str
    task: str
    backend: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    prompt: dict[str, Any] | None = Field(None, description="The rendered prompt template's record")
    assets: list[AssetResult] = Field(default_factory=list)
    case_metrics: dict[str, Measurement] = Field(default_factory=dict, description="Set-level (FID, KID)")


class SuiteRecord(BaseModel):
    name: str
    version: str = "1"
    path: str | None = None
    sha256: str | None = None


class Results(BaseModel):
    """Every case's generated assets and measurements, with where and how they were made."""

    model_config = ConfigDict(populate_by_name=True)

    schema_: str = Field(RESULTS_SCHEMA, alias="schema")
    suite: SuiteRecord
    created: str = ""
    duration_sec: float = 0.0
    mode: str = "local"
    server: str | None = None
    environment: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, MetricInfo] = Field(default_factory=dict, description="The metrics measured")
    cases: list[CaseResult] = Field(default_factory=list)

    def assets(self) -> Iterator[tuple[CaseResult, AssetResult]]:
        for case in self.cases:
            for asset in case.assets:
                yield case, asset

    def failed_jobs(self) -> list[str]:
        """``case/asset`` of every job that did not succeed."""
        return [f"{c.name}/{a.id}" for c, a in self.assets() if not a.job.succeeded]

    def to_json(self) -> dict[str, Any]:
        """The document as results.json holds it (before the judgement is added)."""
        return self.model_dump(mode="json", by_alias=True)
