"""Baselines: the metric values a suite produced on a known-good version, with the metric versions
and the environment they were measured with, so a later run can tell a regression from a change of
ruler."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from genserve.errors import InvalidInput, NotFound
from genserve.gates.registry import Measurement
from genserve.gates.results import Results

SCHEMA = "genserve.gate.baseline/1"


class Baseline(BaseModel):
    schema_: str = Field(SCHEMA, alias="schema")
    suite: str
    suite_version: str = "1"
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    environment: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
    metric_versions: dict[str, str] = Field(default_factory=dict)
    # "case/asset" (or "case/*" for set-level metrics) -> metric -> value
    values: dict[str, dict[str, float]] = Field(default_factory=dict)

    model_config = {"populate_by_name": True}

    def value(self, case: str, asset: str, metric: str) -> float | None:
        return self.values.get(f"{case}/{asset}", {}).get(metric)


def baseline_from_results(results: Results) -> Baseline:
    """A baseline holding every ``ok`` measurement of a results document."""
    values: dict[str, dict[str, float]] = {}
    for case in results.cases:
        for asset in case.assets:
            row = _ok_values(asset.metrics)
            if row:
                values[f"{case.name}/{asset.id}"] = row
        row = _ok_values(case.case_metrics)
        if row:
            values[f"{case.name}/*"] = row
    prov = results.provenance
    return Baseline(
        suite=results.suite.name,
        suite_version=results.suite.version,
        environment=results.environment,
        provenance={k: v for k, v in prov.items() if k.startswith("git_") or k in ("ci_run", "ci_url")},
        metric_versions={k: v.version for k, v in results.metrics.items()},
        values=values,
    )


def _ok_values(measured: dict[str, Measurement]) -> dict[str, float]:
    return {k: m.value for k, m in measured.items() if m.status == "ok" and m.value is not None}


def load_baseline(path: str | Path) -> Baseline:
    path = Path(path)
    if not path.is_file():
        raise NotFound(
            "baseline file does not exist",
            argument="--baseline",
            value=str(path),
            fix="create one with --update-baseline, or leave --baseline out",
        )
    try:
        data = json.loads(path.read_text())
        baseline = Baseline.model_validate(data)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidInput(
            f"is not a genserve baseline ({type(exc).__name__})",
            argument="--baseline",
            value=str(path),
            fix="regenerate it with --update-baseline",
        ) from None
    if baseline.schema_ != SCHEMA:
        raise InvalidInput(
            f"has schema {baseline.schema_}, this genserve reads {SCHEMA}",
            argument="--baseline",
            value=str(path),
            fix="regenerate it with --update-baseline",
        )
    return baseline


def save_baseline(baseline: Baseline, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(baseline.model_dump(by_alias=True), indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path
