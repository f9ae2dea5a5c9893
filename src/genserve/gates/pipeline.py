"""A gate from suite to verdict: generate every case (here or on a server), measure, judge against
the suite's checks and a baseline, write every report. `genserve gate run` and `genserve gate judge`
are this with their options; a Python caller (a notebook, another pipeline) calls it the same way.

    from genserve.gates.pipeline import run_gate
    gate = run_gate("qa/suites/weightfree.yaml", report_dir=Path("gate-report"),
                    baseline=Path("qa/baselines/weightfree.json"))
    gate.judgement.status, gate.exit_code        # "pass", 0

Errors of the evaluation itself (a bad suite, an unreachable server) raise genserve.errors types; a
failing gate does not raise: its judgement says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from genserve import plugins
from genserve.config import Settings, get_settings
from genserve.errors import InvalidInput
from genserve.gates.baseline import Baseline, baseline_from_results, load_baseline, save_baseline
from genserve.gates.judge import Judgement, judge
from genserve.gates.results import Results
from genserve.gates.suite import load_suite

OnAsset = Callable[[str, str, str], None]  # (case, asset, job status), after each job


@dataclass
class GateOutcome:
    """What a gate produced: the measurements, the verdict, and where the reports are."""

    results: Results
    judgement: Judgement
    report_dir: Path
    baseline_written: Path | None = None

    @property
    def exit_code(self) -> int:
        """The CLI's exit code (genserve.errors.ExitCode): 0 pass, 9 a check failed, a failed job its
        error's code, 1 a metric that errored."""
        return self.judgement.exit_code

    @property
    def html(self) -> Path:
        return self.report_dir / "report.html"


def write_reports(
    results: Results,
    judgement: Judgement,
    report_dir: Path,
    *,
    results_dir: Path | None = None,
    summary: Path | None = None,
) -> None:
    """results.json, junit.xml, summary.md and report.html under REPORT_DIR; one file per figure
    under RESULTS_DIR (Tekton task results); the Markdown appended to SUMMARY ($GITHUB_STEP_SUMMARY)."""
    from genserve.gates.report_html import write_html
    from genserve.gates.report_json import write_results
    from genserve.gates.report_junit import write_junit
    from genserve.gates.report_markdown import render_markdown, write_markdown
    from genserve.gates.report_results_dir import write_results_dir

    write_results(results, judgement, report_dir)
    write_junit(results, judgement, report_dir / "junit.xml")
    write_markdown(results, judgement, report_dir / "summary.md")
    write_html(results, judgement, report_dir)
    if results_dir is not None:
        write_results_dir(results, judgement, results_dir)
    if summary is not None:
        with summary.open("a") as fh:
            fh.write(render_markdown(results, judgement))


def run_gate(
    suite: str | Path,
    *,
    report_dir: Path,
    server: str | None = None,
    api_key: str | None = None,
    baseline: Path | None = None,
    update_baseline: bool = False,
    results_dir: Path | None = None,
    summary: Path | None = None,
    settings: Settings | None = None,
    on_asset: OnAsset | None = None,
) -> GateOutcome:
    """Generate every case of SUITE (in this process, or on SERVER), measure, judge, report.

    With ``update_baseline``, this run's values become BASELINE (refused when a job failed) and the
    run is judged against them."""
    from genserve.gates.run import local_generator, run_suite, server_generator

    settings = settings or get_settings()
    plugins.import_plugins(settings.plugins)  # metrics (and tasks, backends) of GENSERVE_PLUGINS
    if update_baseline and baseline is None:
        raise InvalidInput(
            "needs --baseline FILE to write",
            argument="--update-baseline",
            fix="add --baseline qa/baselines/x.json",
        )
    spec = load_suite(suite)
    report_dir = report_dir.resolve()
    base: Baseline | None = None
    if baseline is not None and (baseline.exists() or not update_baseline):
        base = load_baseline(baseline)
    settings = settings.model_copy(update={"output_dir": report_dir / "outputs"})
    if server is not None:
        generate = server_generator(server, report_dir / "outputs", api_key=api_key)
    else:
        generate = local_generator(settings)
    results = run_suite(
        spec, generate, settings, mode="server" if server else "local", server=server, on_asset=on_asset
    )
    written = None
    if update_baseline:
        assert baseline is not None
        failed = results.failed_jobs()
        if failed:
            raise InvalidInput(
                "refuses to write a baseline from failed jobs",
                argument="--update-baseline",
                value=failed,
                fix="fix the failing jobs first",
            )
        base = baseline_from_results(results)
        written = save_baseline(base, baseline)
    judgement = judge(results, spec, base)
    write_reports(results, judgement, report_dir, results_dir=results_dir, summary=summary)
    return GateOutcome(results, judgement, report_dir, baseline_written=written)


def judge_again(
    results_path: str | Path,
    *,
    report_dir: Path,
    suite: Path | None = None,
    baseline: Path | None = None,
    results_dir: Path | None = None,
    summary: Path | None = None,
    settings: Settings | None = None,
) -> GateOutcome:
    """Judge stored measurements again (new thresholds, another baseline) without generating; the
    suite defaults to the one the results name."""
    from genserve.gates.report_json import load_results

    plugins.import_plugins((settings or get_settings()).plugins)
    results = load_results(results_path)
    suite_path = suite or (Path(results.suite.path) if results.suite.path else None)
    if suite_path is None:
        raise InvalidInput("the results name no suite", argument="--suite", fix="pass --suite FILE")
    spec = load_suite(suite_path)
    base = load_baseline(baseline) if baseline is not None else None
    judgement = judge(results, spec, base)
    write_reports(results, judgement, report_dir, results_dir=results_dir, summary=summary)
    return GateOutcome(results, judgement, report_dir)
