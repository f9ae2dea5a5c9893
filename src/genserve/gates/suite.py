"""Gate suites (YAML): cases to generate from fixed assets, and the checks their metrics must pass.

name: weightfree
assets: ../assets                  # relative to this file; kept apart from the code
cases:
  - name: i2v-zoom
    task: image-to-video
    backend: camera
    params: {resolution: 256p, num_frames: 12, fps: 8, motion: zoom_in}
    assets:
      - {id: landscape, image: images/landscape.png}
checks:
  - {metric: frozen_fraction, max: 0.3}
  - {metric: lse_d, tolerance: {relative: 0.05}}      # against the baseline
  - {metric: cer, max: 0.1, mostly: 0.9}              # 90 % of assets must pass
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from genserve.errors import InvalidInput, NotFound
from genserve.gates.registry import all_metrics
from genserve.tasks import TASKS

_ASSET_KEYS = ("id", "expect")


class Asset(BaseModel):
    """One set of input files (and what the output should contain); one job per asset."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    inputs: dict[str, str] = Field(default_factory=dict, description="Input name -> file under assets/")
    expect: dict[str, Any] = Field(default_factory=dict, description="Expected text, labels, references")

    @model_validator(mode="before")
    @classmethod
    def _inputs_inline(cls, data: Any) -> Any:
        """``{id: a, image: x.png}`` is short for ``{id: a, inputs: {image: x.png}}``."""
        if isinstance(data, dict):
            data = dict(data)
            inline = {k: data.pop(k) for k in list(data) if k not in (*_ASSET_KEYS, "inputs")}
            data["inputs"] = {**(data.get("inputs") or {}), **inline}
        return data


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    task: str
    backend: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    assets: list[Asset] = Field(min_length=1)
    metrics: list[str] | None = Field(None, description="Only these metrics (default: all that apply)")
    prompt_template: str | None = Field(
        None,
        description="A Jinja2 prompt template under assets/, rendered from git metadata into params.prompt",
    )


class Tolerance(BaseModel):
    """How much worse than the baseline a value may be: a fraction of it, or an amount (either holds)."""

    model_config = ConfigDict(extra="forbid")

    relative: float | None = Field(None, ge=0)
    absolute: float | None = Field(None, ge=0)

    def allowed(self, baseline: float) -> float:
        return max(
            (self.relative or 0.0) * abs(baseline) if self.relative is not None else 0.0,
            self.absolute or 0.0,
        )

    def describe(self) -> str:
        parts = []
        if self.relative is not None:
            parts.append(f"{self.relative * 100:g} %")
        if self.absolute is not None:
            parts.append(f"{self.absolute:g}")
        return " or ".join(parts)


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str
    id: str | None = Field(None, description="Name shown in reports (default: metric[@cases])")
    cases: list[str] | None = Field(None, description="Cases it applies to (default: all the metric fits)")
    min: float | None = None
    max: float | None = None
    tolerance: Tolerance | None = None
    mostly: float = Field(1.0, gt=0, le=1, description="Fraction of assets that must pass")
    required: bool = Field(False, description="A SKIPPED measurement fails instead of being reported")

    @property
    def key(self) -> str:
        return self.id or (self.metric if not self.cases else f"{self.metric}@{','.join(self.cases)}")

    def threshold_text(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.tolerance is not None:
            parts.append(f"Δ worse <= {self.tolerance.describe()}")
        text = ", ".join(parts)
        return f"{text} (mostly {self.mostly:g})" if self.mostly < 1 else text


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: str = "1"
    description: str = ""
    assets: str = Field("assets", description="Assets directory, relative to the suite file")
    cases: list[Case] = Field(min_length=1)
    checks: list[Check] = Field(default_factory=list)

    path: Path | None = Field(None, exclude=True)
    sha256: str | None = Field(None, exclude=True)

    @property
    def assets_dir(self) -> Path:
        base = self.path.parent if self.path else Path.cwd()
        return (base / self.assets).resolve()

    def case(self, name: str) -> Case:
        return next(c for c in self.cases if c.name == name)

    def asset_path(self, relative: str) -> Path:
        return self.assets_dir / relative

    def checks_for(self, case: Case) -> list[Check]:
        metrics = all_metrics()
        return [
            ch
            for ch in self.checks
            if (ch.cases is None and metrics[ch.metric].applies_to(case.task))
            or (ch.cases is not None and case.name in ch.cases)
        ]


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; every problem names the place in the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise NotFound("suite file does not exist", argument="SUITE", value=str(path), fix="check the path")
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InvalidInput(
            f"is not valid YAML ({exc.__class__.__name__}: {str(exc).splitlines()[0]})",
            argument=str(path),
            fix="fix the YAML syntax",
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput("must be a YAML mapping with name, cases and checks", argument=str(path))
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(
            f"{err['msg']}",
            argument=f"{path.name}: {where}",
            value=err.get("input"),
            fix="see the suite format",
        ) from None
    suite.path = path.resolve()
    suite.sha256 = hashlib.sha256(raw).hexdigest()
    check_suite(suite)
    return suite


def check_suite(suite: Suite) -> None:
    """Cross-field rules: known tasks, metrics and cases; asset files present; checks that check something."""
    metrics = all_metrics()
    names = [c.name for c in suite.cases]
    where = suite.path.name if suite.path else "suite"
    if len(set(names)) != len(names):
        raise InvalidInput("case names must be unique", argument=f"{where}: cases", value=names)
    for case in suite.cases:
        if case.task not in TASKS:
            raise InvalidInput(
                "unknown task",
                argument=f"{where}: {case.name}.task",
                value=case.task,
                fix=f"use {list(TASKS)}",
            )
        for name in case.metrics or []:
            if name not in metrics:
                raise InvalidInput(
                    "unknown metric",
                    argument=f"{where}: {case.name}.metrics",
                    value=name,
                    fix=f"use one of: {', '.join(sorted(metrics))}",
                )
        ids = [a.id for a in case.assets]
        if len(set(ids)) != len(ids):
            raise InvalidInput(
                "asset ids must be unique in a case", argument=f"{where}: {case.name}", value=ids
            )
        if case.prompt_template and not suite.asset_path(case.prompt_template).is_file():
            raise NotFound(
                "prompt template does not exist",
                argument=f"{where}: {case.name}.prompt_template",
                value=str(suite.asset_path(case.prompt_template)),
                fix=f"add it under {suite.assets_dir} or fix the path",
            )
        for asset in case.assets:
            for key, rel in asset.inputs.items():
                if not suite.asset_path(rel).is_file():
                    raise NotFound(
                        "asset file does not exist",
                        argument=f"{where}: {case.name}/{asset.id}.{key}",
                        value=str(suite.asset_path(rel)),
                        fix=f"add it under {suite.assets_dir} or fix the path",
                    )
    for i, check in enumerate(suite.checks):
        label = f"{where}: checks[{i}]"
        if check.metric not in metrics:
            raise InvalidInput(
                "unknown metric",
                argument=f"{label}.metric",
                value=check.metric,
                fix=f"use one of: {', '.join(sorted(metrics))}",
            )
        if check.min is None and check.max is None and check.tolerance is None:
            raise InvalidInput(
                "checks nothing",
                argument=label,
                value=check.metric,
                fix="give min, max and/or tolerance: {relative: 0.05}",
            )
        for name in check.cases or []:
            if name not in names:
                raise InvalidInput(
                    "unknown case",
                    argument=f"{label}.cases",
                    value=name,
                    fix=f"use one of: {', '.join(names)}",
                )
    keys = [c.key for c in suite.checks]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise InvalidInput(
            "two checks share an id", argument=f"{where}: checks", value=dupes, fix="give each an id: ..."
        )
