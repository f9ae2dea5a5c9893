"""Judging stored measurements against a suite's checks and a baseline.

Non-compensatory: every check must pass; a better FID never pays for a worse LSE-D. A check passes
when at least ``mostly`` of the assets it evaluated pass; a SKIPPED measurement is reported and never
counted as passed (``required: true`` turns it into a failure). Every job must have succeeded.
Exit codes (genserve.errors.ExitCode): 0 pass; a job that failed exits as `genserve run` would for
it (2 refused input, 4 backend unavailable, 5 out of memory, ...); 9 a check failed; 1 a metric errored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from genserve.errors import ExitCode, exit_code_of
from genserve.gates.baseline import Baseline
from genserve.gates.fingerprint import fingerprint_differences
from genserve.gates.registry import Direction, Measurement, all_metrics
from genserve.gates.results import CaseResult, Results
from genserve.gates.suite import Check, Suite

Status = Literal["pass", "fail", "skipped", "error"]
JOB_CHECK = "job_succeeded"


class Outcome(BaseModel):
    case: str
    asset: str
    status: Status
    value: float | None = None
    baseline: float | None = None
    delta: float | None = None
    delta_pct: float | None = None
    reason: str = ""


class CheckVerdict(BaseModel):
    id: str
    metric: str
    unit: str = ""
    direction: str = "info"
    threshold: str = ""
    mostly: float = 1.0
    status: Status
    passed: int = 0
    evaluated: int = 0
    skipped: int = 0
    reason: str = ""
    outcomes: list[Outcome] = Field(default_factory=list)


class Judgement(BaseModel):
    status: Literal["pass", "fail", "error"]
    exit_code: int
    checks: list[CheckVerdict]
    baseline: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    @property
    def failed(self) -> list[CheckVerdict]:
        return [c for c in self.checks if c.status == "fail"]


def _judge_value(check: Check, direction: Direction, value: float, base: float | None) -> tuple[Status, str]:
    reasons = []
    if check.min is not None and value < check.min:
        reasons.append(f"{value:.4g} < min {check.min:g}")
    if check.max is not None and value > check.max:
        reasons.append(f"{value:.4g} > max {check.max:g}")
    if check.tolerance is not None and base is not None:
        allowed = check.tolerance.allowed(base)
        worse = abs(value - base) if direction is Direction.INFO else direction.worse(value, base)
        if worse > allowed + 1e-12:
            pct = f" ({worse / abs(base) * 100:.1f} % worse)" if base else ""
            reasons.append(
                f"{value:.4g} vs baseline {base:.4g}: worse by {worse:.4g}{pct}, "
                f"allowed {check.tolerance.describe()}"
            )
    return ("fail", "; ".join(reasons)) if reasons else ("pass", "")


def _outcome(
    check: Check,
    name: str,
    asset_id: str,
    measurement: Measurement | None,
    baseline: Baseline | None,
    versions_ok: bool,
) -> Outcome:
    metric = all_metrics()[check.metric]
    if measurement is None:
        return Outcome(case=name, asset=asset_id, status="skipped", reason="not measured")
    if measurement.status != "ok" or measurement.value is None:
        status: Status = "error" if measurement.status == "error" else "skipped"
        if status == "skipped" and check.required:
            status = "fail"
        return Outcome(case=name, asset=asset_id, status=status, reason=measurement.reason or "")
    value = float(measurement.value)
    base = baseline.value(name, asset_id, check.metric) if baseline and versions_ok else None
    status, reason = _judge_value(check, metric.direction, value, base)
    out = Outcome(case=name, asset=asset_id, status=status, value=value, baseline=base, reason=reason)
    if base is not None:
        out.delta = value - base
        out.delta_pct = (value - base) / abs(base) * 100 if base else None
    elif check.tolerance is not None:
        note = "no baseline value" if versions_ok else "baseline made with another metric version"
        if check.min is None and check.max is None:
            return Outcome(case=name, asset=asset_id, status="skipped", value=value, reason=note)
        # the bounds were judged; a failed bound stays the reason, the missing baseline a remark
        out.reason = "; ".join(r for r in (out.reason, f"{note}, so the tolerance was not applied") if r)
    return out


def judge(results: Results, suite: Suite, baseline: Baseline | None = None) -> Judgement:
    metrics = all_metrics()
    verdicts: list[CheckVerdict] = []
    warnings: list[str] = []
    # 1. every job must have succeeded
    job_outcomes = [
        Outcome(
            case=c.name,
            asset=a.id,
            status="pass" if a.job.succeeded else "fail",
            reason="" if a.job.succeeded else f"job {a.job.status}: {a.job.message}",
        )
        for c, a in results.assets()
    ]
    verdicts.append(
        _aggregate(Check(metric=JOB_CHECK, id=JOB_CHECK, min=1), job_outcomes, unit="", direction="higher")
    )
    # 2. the suite's checks, each over the assets of the cases it covers
    info: dict[str, Any] = {}
    if baseline is not None:
        info = {"created": baseline.created, "suite": baseline.suite, "provenance": baseline.provenance}
        diffs = fingerprint_differences(baseline.environment, results.environment)
        info["environment_differences"] = diffs
        if diffs:
            warnings.append("the baseline was measured in another environment: " + "; ".join(diffs))
        if baseline.suite != results.suite.name:
            warnings.append(f"the baseline is of suite '{baseline.suite}', not '{results.suite.name}'")
    cases_by_name = {c.name: c for c in results.cases}
    for check in suite.checks:
        metric = metrics[check.metric]
        recorded = results.metrics.get(check.metric)
        current_version = recorded.version if recorded is not None else metric.version
        versions_ok = True
        if baseline is not None:
            base_version = baseline.metric_versions.get(check.metric)
            versions_ok = base_version is None or base_version == current_version
            if not versions_ok:
                warnings.append(
                    f"{check.metric}: baseline measured with version {base_version}, now {current_version}; "
                    "tolerance not applied (re-baseline with --update-baseline)"
                )
        outcomes: list[Outcome] = []
        for case_def in suite.cases:
            case = cases_by_name.get(case_def.name)
            if case is not None and check in suite.checks_for(case_def):
                outcomes += _case_outcomes(check, case, metric.scope, baseline, versions_ok)
        verdicts.append(_aggregate(check, outcomes, unit=metric.unit, direction=str(metric.direction)))
    statuses = {v.status for v in verdicts}
    overall: Literal["pass", "fail", "error"] = (
        "fail" if "fail" in statuses else "error" if "error" in statuses else "pass"
    )
    return Judgement(
        status=overall,
        exit_code=int(_exit_code(overall, results)),
        checks=verdicts,
        baseline=info,
        warnings=warnings,
    )


def _case_outcomes(
    check: Check, case: CaseResult, scope: str, baseline: Baseline | None, versions_ok: bool
) -> list[Outcome]:
    """The check's outcome on each asset of the case (one outcome, asset "*", for a set-level metric)."""
    if scope == "case":
        return [_outcome(check, case.name, "*", case.case_metrics.get(check.metric), baseline, versions_ok)]
    return [
        _outcome(check, case.name, a.id, a.metrics.get(check.metric), baseline, versions_ok)
        if a.job.succeeded
        else Outcome(case=case.name, asset=a.id, status="skipped", reason="the job failed")
        for a in case.assets
    ]


def _exit_code(overall: str, results: Results) -> ExitCode:
    """A job that did not succeed exits by its own error, as `genserve run` and `submit --wait` do
    for the same failure; else 9 for a failed check, 1 for a metric that errored."""
    if overall == "pass":
        return ExitCode.OK
    for _, asset in results.assets():
        job = asset.job
        if not job.succeeded:
            return exit_code_of(job.error or ("canceled" if job.status == "canceled" else None))
    return ExitCode.GATE_FAILED if overall == "fail" else ExitCode.INTERNAL


def _aggregate(check: Check, outcomes: list[Outcome], *, unit: str, direction: str) -> CheckVerdict:
    evaluated = [o for o in outcomes if o.status in ("pass", "fail")]
    passed = sum(o.status == "pass" for o in evaluated)
    skipped = sum(o.status == "skipped" for o in outcomes)
    errors = [o for o in outcomes if o.status == "error"]
    verdict = CheckVerdict(
        id=check.key,
        metric=check.metric,
        unit=unit,
        direction=direction,
        threshold=check.threshold_text() if check.metric != JOB_CHECK else "every job succeeds",
        mostly=check.mostly,
        status="pass",
        passed=passed,
        evaluated=len(evaluated),
        skipped=skipped,
        outcomes=outcomes,
    )
    if not outcomes:
        verdict.status, verdict.reason = "skipped", "no case this check applies to"
    elif evaluated and passed / len(evaluated) < check.mostly - 1e-12:
        worst = next(o for o in evaluated if o.status == "fail")
        verdict.status = "fail"
        verdict.reason = (
            f"{passed}/{len(evaluated)} assets passed (need {check.mostly:.0%}); "
            f"{worst.case}/{worst.asset}: {worst.reason}"
        )
    elif errors:
        verdict.status, verdict.reason = "error", f"{errors[0].case}/{errors[0].asset}: {errors[0].reason}"
    elif not evaluated:
        verdict.status = "skipped"
        verdict.reason = next((o.reason for o in outcomes if o.reason), "not measured")
    return verdict
