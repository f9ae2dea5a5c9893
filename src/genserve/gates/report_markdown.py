"""A Markdown summary fit for a pull-request comment or ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

from pathlib import Path

from genserve.gates.judge import Judgement
from genserve.gates.results import Results

_MARK = {"pass": "✅ pass", "fail": "❌ FAIL", "skipped": "⚪ skipped", "error": "⚠️ error"}


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f} %"


def render_markdown(results: Results, judgement: Judgement) -> str:
    prov = results.provenance
    lines = [
        f"## genserve gate `{results.suite.name}`: {_MARK[judgement.status]} (exit {judgement.exit_code})",
        "",
    ]
    facts = [f"{sum(len(c.assets) for c in results.cases)} jobs ({results.mode})"]
    if prov.get("git_commit"):
        facts.append(f"commit `{str(prov['git_commit'])[:12]}`")
    if prov.get("git_branch"):
        facts.append(f"branch `{prov['git_branch']}`")
    if judgement.baseline:
        base_commit = judgement.baseline.get("provenance", {}).get("git_commit")
        facts.append(
            f"baseline of {judgement.baseline.get('created')}"
            + (f" (commit `{str(base_commit)[:12]}`)" if base_commit else "")
        )
    else:
        facts.append("no baseline")
    lines += [" · ".join(facts), ""]
    failed = judgement.failed
    if failed:
        lines.append("### Failing checks")
        lines.append("")
        for check in failed:
            lines.append(f"- **{check.id}** ({check.metric}, {check.threshold}): {check.reason}")
        lines.append("")
    lines += [
        "| check | case / asset | baseline | candidate | Δ | Δ% | threshold | status |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for check in judgement.checks:
        name = f"{check.id} ({check.unit})" if check.unit else check.id
        for o in check.outcomes:
            status = _MARK[o.status] + (f" — {o.reason}" if o.reason and o.status != "pass" else "")
            lines.append(
                f"| {name} | {o.case} / {o.asset} | {_num(o.baseline)} | {_num(o.value)} "
                f"| {_num(o.delta)} | {_pct(o.delta_pct)} | {check.threshold} | {status} |"
            )
    skipped = [c for c in judgement.checks if c.status == "skipped"]
    if skipped:
        lines += ["", "### Skipped (not measured, not passed)", ""]
        lines += [f"- {c.id}: {c.reason}" for c in skipped]
    if judgement.warnings:
        lines += ["", "### Warnings", ""]
        lines += [f"- {w}" for w in judgement.warnings]
    return "\n".join(lines) + "\n"


def write_markdown(results: Results, judgement: Judgement, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(results, judgement))
    return path
