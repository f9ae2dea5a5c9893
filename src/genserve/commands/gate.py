"""`genserve gate run|judge|prompt|metrics` and `genserve ci init|notify|upload`: thin doors over
genserve.gates (`gate run` and `gate judge` parse their options and call genserve.gates.pipeline).

Exit codes of `gate run` / `gate judge` (genserve.errors.ExitCode, the CLI's one table): 0 the gate
passed, 9 a check failed; anything that stopped the evaluation exits by its own code, as in `genserve
run`: 2 a bad suite, 3 an unreachable server, a failed job its error's code (5 out of memory, ...),
1 a metric that errored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from genserve.commands import console
from genserve.config import get_settings
from genserve.errors import GenserveError, InvalidInput
from genserve.gates.ci import DEFAULT_IMAGE

if TYPE_CHECKING:
    from genserve.gates.judge import Judgement
    from genserve.gates.pipeline import GateOutcome


def _fail(exc: GenserveError) -> typer.Exit:
    """An error that stopped the evaluation: its exit code from the table, as in every command."""
    return console.fail(exc, "genserve gate: error")


def counts(judgement: Judgement) -> str:
    """What the console says was judged, in the same units as junit.xml (one test case per asset x
    check) and per check, skipped ones counted, never folded into "passed"."""
    from collections import Counter

    by_check = Counter[str](c.status for c in judgement.checks)
    by_case = Counter[str](o.status for c in judgement.checks for o in c.outcomes)

    def said(found: Counter[str]) -> str:
        parts = [
            f"{found[s]} {w}" for s, w in (("pass", "passed"), ("fail", "failed"), ("skipped", "skipped"))
        ]
        if found["error"]:
            parts.append(f"{found['error']} errors")
        return ", ".join(parts)

    return (
        f"{len(judgement.checks)} checks: {said(by_check)}; "
        f"{sum(by_case.values())} test cases (junit.xml): {said(by_case)}"
    )


def _finish(gated: GateOutcome) -> None:
    judgement = gated.judgement
    color = {"pass": "green", "fail": "red", "error": "yellow"}[judgement.status]
    verdict = typer.style(f"gate {judgement.status.upper()}", fg=color)
    console.note(f"{verdict}: {counts(judgement)}; report: {gated.html}")
    for check in judgement.failed:
        console.note(f"  {typer.style('FAIL', fg='red')} {check.id}: {console.one_line(check.reason)}")
    raise typer.Exit(gated.exit_code)


def register(app: typer.Typer) -> None:
    gate = console.new_typer(help="Quality gates: generate from fixed assets, measure, judge, report.")
    ci = console.new_typer(help="CI/CD pipeline templates.")
    app.add_typer(gate, name="gate")
    app.add_typer(ci, name="ci")

    @gate.command("run")
    def gate_run(
        suite: Annotated[Path, typer.Argument(help="Suite YAML (e.g. qa/suites/weightfree.yaml)")],
        report_dir: Annotated[Path, typer.Option("--report-dir", help="Where reports and outputs go")],
        local: Annotated[bool, typer.Option("--local", help="Run jobs in this process")] = False,
        server: Annotated[
            str | None, typer.Option("--server", help="Run jobs on this genserve server URL")
        ] = None,
        api_key: Annotated[str | None, typer.Option("--api-key", help="Key for --server")] = None,
        baseline: Annotated[
            Path | None, typer.Option("--baseline", help="Baseline JSON to compare with")
        ] = None,
        update_baseline: Annotated[
            bool, typer.Option("--update-baseline", help="Write this run's values as the new --baseline")
        ] = False,
        results_dir: Annotated[
            Path | None, typer.Option("--results-dir", help="One file per figure (Tekton task results)")
        ] = None,
        summary: Annotated[
            Path | None,
            typer.Option("--summary", help="Append the Markdown here (e.g. $GITHUB_STEP_SUMMARY)"),
        ] = None,
    ) -> None:
        """Generate every case of SUITE, measure, judge against the checks and the baseline, report."""
        from genserve.gates.pipeline import run_gate

        def on_asset(case: str, asset: str, status: str) -> None:
            console.note(f"  {case}/{asset}: {status}")

        try:
            if local == (server is not None):
                raise InvalidInput(
                    "say where jobs run: exactly one of --local or --server URL",
                    argument="--local/--server",
                    fix="add --local to run here, or --server http://host:7860",
                )
            gated = run_gate(
                suite,
                report_dir=report_dir,
                server=server,
                api_key=api_key,
                baseline=baseline,
                update_baseline=update_baseline,
                results_dir=results_dir,
                summary=summary,
                on_asset=on_asset,
            )
        except GenserveError as exc:
            raise _fail(exc) from None
        if gated.baseline_written is not None:
            console.note(f"baseline written: {gated.baseline_written}")
        _finish(gated)

    @gate.command("judge")
    def gate_judge(
        results_path: Annotated[
            Path, typer.Argument(metavar="RESULTS", help="results.json (or its report dir)")
        ],
        report_dir: Annotated[Path, typer.Option("--report-dir", help="Where the new reports go")],
        suite: Annotated[
            Path | None, typer.Option("--suite", help="Suite with the checks (default: the one recorded)")
        ] = None,
        baseline: Annotated[
            Path | None, typer.Option("--baseline", help="Baseline JSON to compare with")
        ] = None,
        results_dir: Annotated[Path | None, typer.Option("--results-dir", help="One file per figure")] = None,
        summary: Annotated[Path | None, typer.Option("--summary", help="Append the Markdown here")] = None,
    ) -> None:
        """Re-judge stored measurements (new thresholds, another baseline) without generating again."""
        from genserve.gates.pipeline import judge_again

        try:
            gated = judge_again(
                results_path,
                report_dir=report_dir,
                suite=suite,
                baseline=baseline,
                results_dir=results_dir,
                summary=summary,
            )
        except GenserveError as exc:
            raise _fail(exc) from None
        _finish(gated)

    @gate.command("prompt")
    def gate_prompt(
        template: Annotated[Path, typer.Argument(help="Jinja2 prompt template")],
        var: Annotated[
            list[str] | None, typer.Option("--var", help="Override a variable, key=value (e.g. message=...)")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the prompt with its provenance")] = False,
    ) -> None:
        """Render a versioned prompt template from git metadata (commit message, branch, tag, author)."""
        from genserve.gates.prompts import render_prompt

        overrides: dict[str, str] = {}
        for pair in var or []:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise InvalidInput(
                    "must look like key=value", argument="--var", value=pair, fix="e.g. --var branch=main"
                )
            overrides[key] = value
        prompt, record = render_prompt(template, overrides)
        typer.echo(json.dumps({"prompt": prompt, **record}, indent=2) if as_json else prompt)

    @gate.command("metrics")
    def gate_metrics(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """List the metrics: name, unit, direction, version, what each measures and the weights it needs."""
        from genserve import plugins
        from genserve.gates.registry import all_metrics

        settings = get_settings()
        plugins.import_plugins(settings.plugins)
        rows = [m.describe() for m in all_metrics().values()]
        broken = [vars(b) for b in plugins.broken() if b.kind in ("metric", "module")]
        if as_json:
            typer.echo(json.dumps(rows + [{**b, "broken": True} for b in broken], indent=2))
            return

        def weights(setting: str | None) -> str:
            if not setting:
                return ""
            state = "set" if getattr(settings, setting, None) else "not set: SKIPPED"
            return f"GENSERVE_{setting.upper()} ({state})"

        def measures(row: dict[str, Any]) -> str:
            kinds = [*row["tasks"], *(f"{kind} output" for kind in row["outputs"])]
            return ", ".join(kinds) or "every task"

        table = [
            (r["name"], r["unit"], r["direction"], r["version"], measures(r), weights(r["weights"]))
            for r in rows
        ]
        headers = ("metric", "unit", "better", "version", "measures", "weights")
        typer.echo(console.table(headers, table, empty="no metrics"))
        if broken:
            typer.echo(typer.style("\nbroken plugins (not loaded)", bold=True, fg="red"))
            lines = [(b["kind"], b["name"], b["source"], console.fit(b["reason"], 70)) for b in broken]
            typer.echo(console.table(("kind", "name", "from", "why"), lines, empty=""))

    @ci.command("init")
    def ci_init(
        system: Annotated[str, typer.Argument(help="github | gitlab | jenkins | tekton")],
        out: Annotated[
            Path | None, typer.Option("--out", help="Where to write (default: the system's usual path)")
        ] = None,
        suite: Annotated[
            str, typer.Option("--suite", help="Suite the pipeline runs")
        ] = "qa/suites/weightfree.yaml",
        baseline: Annotated[
            str, typer.Option("--baseline", help="Baseline it compares with")
        ] = "qa/baselines/weightfree.json",
        notify: Annotated[
            str, typer.Option("--notify", help="slack | wecom | dingtalk | feishu | webhook")
        ] = "webhook",
        image: Annotated[
            str, typer.Option("--image", help="The genserve image the jobs run in (deploy/docker/Dockerfile)")
        ] = DEFAULT_IMAGE,
        bare_python: Annotated[
            bool,
            typer.Option("--bare-python", help="No image: install genserve on plain Python each run (slow)"),
        ] = False,
        force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
    ) -> None:
        """Write a working pipeline: start the service, run the gate, archive, notify, stop the service."""
        from genserve.gates.ci import write_pipeline

        try:
            path = write_pipeline(
                system,
                out=out,
                suite=suite,
                baseline=baseline,
                notify=notify,
                image=image,
                bare_python=bare_python,
                force=force,
            )
        except GenserveError as exc:
            raise console.fail(exc) from None
        typer.echo(str(path))

    @ci.command("notify")
    def ci_notify(
        report_dir: Annotated[Path, typer.Argument(help="The gate's --report-dir (results.json)")],
        to: Annotated[str, typer.Option("--to", help="slack | wecom | dingtalk | feishu | webhook")],
        url: Annotated[
            str, typer.Option("--url", envvar="GENSERVE_NOTIFY_URL", help="The webhook URL (a CI secret)")
        ] = "",
        secret: Annotated[
            str,
            typer.Option("--secret", envvar="GENSERVE_NOTIFY_SECRET", help="DingTalk/Feishu signing secret"),
        ] = "",
        commit: Annotated[str, typer.Option("--commit", help="The commit judged")] = "",
        link: Annotated[str, typer.Option("--link", help="Where the report is (the CI run's page)")] = "",
        title: Annotated[str, typer.Option("--title", help="The message's first words")] = "genserve gate",
    ) -> None:
        """Post the gate's verdict, failing checks, commit and report link to a chat webhook."""
        from genserve.gates.ci_notify import build_payload, read_verdict, send

        try:
            if not url:
                raise InvalidInput(
                    "no webhook URL", argument="--url", fix="set the CI secret GENSERVE_NOTIFY_URL"
                )
            verdict = read_verdict(report_dir)
            payload = build_payload(to, verdict, title=title, commit=commit, link=link)
            send(to, url, payload, secret=secret)
        except GenserveError as exc:
            raise console.fail(exc, "genserve ci notify: error") from None
        console.note(f"notified ({to}): gate {verdict.status}")

    @ci.command("upload")
    def ci_upload(
        dirs: Annotated[list[Path], typer.Argument(help="Directories to copy (e.g. gate-report logs)")],
        to: Annotated[str, typer.Option("--to", help="s3://bucket/prefix (AWS_* variables for the server)")],
    ) -> None:
        """Copy reports, outputs and logs to S3-compatible storage (no aws CLI needed)."""
        from genserve.gates.ci_archive import upload_dirs

        def skipped(path: Path) -> None:
            console.note(f"  {path}: not there, skipped")

        try:
            keys = upload_dirs(dirs, to, on_skip=skipped)
        except GenserveError as exc:
            raise console.fail(exc, "genserve ci upload: error") from None
        console.note(f"uploaded {len(keys)} files to {to.rstrip('/')}/" if keys else "nothing to upload")
