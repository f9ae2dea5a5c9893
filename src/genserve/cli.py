"""The `genserve` command line: a thin door over the runner (and, later, the service and client)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from genserve import __version__, plugins
from genserve.commands import console
from genserve.commands.job_options import PromptOpt, SetOpt, TaskCommandsGroup, job_params, task_command
from genserve.config import get_settings
from genserve.errors import GenserveError, exit_code_of

app = console.new_typer(name="genserve", cls=TaskCommandsGroup)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"genserve {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """AI media models as headless services, one job contract for every task (`genserve backends`
    lists them)."""


def run(
    task: str,
    inputs: dict[str, list[Path]],
    prompt: PromptOpt = None,
    set_: SetOpt = None,
    backend: Annotated[str | None, typer.Option(help="Backend; default: the task's first available")] = None,
    model: Annotated[str | None, typer.Option(help="Model: hub id or local directory")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N")] = None,
    out: Annotated[Path | None, typer.Option(help="Output root (default: outputs/)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Run one job here, in this process, and print its result JSON."""
    from genserve.backends.registry import import_plugins
    from genserve.jobs import JobRequest, run_job

    settings = get_settings()
    import_plugins(settings)
    if out is not None:
        settings = settings.model_copy(update={"output_dir": out})
    params = job_params(prompt, set_)
    files: dict[str, Path | list[Path]] = {k: v if len(v) > 1 else v[0] for k, v in inputs.items()}
    request = JobRequest(task=task, inputs=files, params=params, backend=backend, model=model, device=device)
    with console.ProgressBar(quiet) as on_progress:
        result = run_job(request, settings=settings, on_progress=on_progress)
    typer.echo(result.model_dump_json(indent=2))
    if result.status != "succeeded":
        console.error(console.in_cli_terms(result.message or result.status))
        raise typer.Exit(exit_code_of(result.error))
    for warning in result.warnings:
        console.warning(warning)


task_command("run", run)


@app.command()
def backends(
    task: Annotated[str | None, typer.Option(help="Only this task")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """List tasks, backends, whether each can run here (and what to install), and parameter defaults."""
    from genserve import plugins
    from genserve.backends.registry import describe_backends, import_plugins
    from genserve.tasks import get_task

    settings = get_settings()
    import_plugins(settings)
    if task:
        get_task(task)
    rows = describe_backends(settings, task)
    broken = [vars(b) for b in plugins.broken()]
    if as_json:
        listed = [{k: v for k, v in r.items() if k != "params_schema"} for r in rows]
        typer.echo(json.dumps(listed + [{**b, "broken": True} for b in broken], indent=2))
        return
    for current in dict.fromkeys(r["task"] for r in rows):
        group = [r for r in rows if r["task"] == current]
        defaults = ", ".join(f"{k}={v!r}" for k, v in group[0]["defaults"].items())
        typer.echo(f"{typer.style(current, bold=True)}  defaults: {defaults}")
        table = [
            (
                r["backend"],
                "yes" if r["available"] else "no",
                "*" if r["default"] else "",
                console.fit(r["description"] if r["available"] else r["reason"] or "", 70),
            )
            for r in group
        ]
        typer.echo(console.table(("backend", "available", "default", "notes"), table, empty=""))
        typer.echo("")
    if broken:
        typer.echo(typer.style("broken plugins (not loaded)", bold=True, fg="red"))
        table = [(b["kind"], b["name"], b["source"], console.fit(b["reason"], 70)) for b in broken]
        typer.echo(console.table(("kind", "name", "from", "why"), table, empty=""))
        typer.echo("")
    console.install_steps(rows)


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False) -> None:
    """Report Python, torch/CUDA, GPU memory, PyAV/ffmpeg, disk, and which backends can run here."""
    from genserve.doctor import diagnose

    report = diagnose(get_settings())
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    facts = [(key, value) for key, value in report.items() if key != "backends"]
    typer.echo(console.table(("", ""), facts, empty="", header=False))
    rows = report.get("backends", [])
    typer.echo("")
    table = [
        (b["task"], b["backend"], "yes" if b["available"] else "no", console.fit(b["reason"] or "", 70))
        for b in rows
    ]
    typer.echo(console.table(("task", "backend", "available", "why not"), table, empty="no backends"))
    console.install_steps(rows)


@app.command()
def version() -> None:
    """Print the genserve version."""
    typer.echo(__version__)


def _command_adder(obj: Any) -> Callable[[typer.Typer], None]:
    if not callable(obj):
        raise TypeError(f"{obj!r} is not a function that adds commands: register(app: typer.Typer)")
    return cast(Callable[[typer.Typer], None], obj)


# Functions that add commands to the app, ``register(app: typer.Typer) -> None``: genserve's own
# (one line per module) and a package's, through the entry-point group ``genserve.commands``.
COMMANDS: plugins.Registry[Callable[[typer.Typer], None]] = plugins.Registry(
    "command",
    "genserve.commands",
    {
        "models": "genserve.commands.models:register",
        "gate": "genserve.commands.gate:register",
        "serve": "genserve.commands.serve:register",
        "jobs": "genserve.commands.jobs:register",
        "batch": "genserve.commands.batch:register",
        "worker": "genserve.commands.worker:register",
    },
    accept=_command_adder,
)


def _register_commands() -> None:
    for name, add in COMMANDS.items():
        try:
            add(app)
        except Exception as exc:  # a plugin's broken command must not take the CLI down
            if COMMANDS.is_builtin(name):
                raise
            plugins.note_broken("command", name, repr(add), exc)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Click answers usage errors itself (usage, the error with its "Did you
    mean", exit 2), --help and --version; a typed error becomes one line on stderr and its exit code."""
    try:
        app(args=argv, prog_name="genserve")  # standalone: ends with sys.exit(code)
    except GenserveError as exc:
        console.error(console.in_cli_terms(exc.message))
        sys.exit(exc.exit_code)
