"""The `genserve` command line: a thin door over the runner (and, later, the service and client)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from genserve import __version__
from genserve.commands.job_options import AudioOpt, ImageOpt, PromptOpt, SetOpt, TaskArg, job_params
from genserve.config import get_settings
from genserve.errors import GenserveError, error_class

app = typer.Typer(
    name="genserve",
    help="AI media models as headless services: image-to-video, talking-head, recognize.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)


@app.command()
def run(
    task: TaskArg,
    image: ImageOpt = None,
    audio: AudioOpt = None,
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
    inputs: dict[str, Path | list[Path]] = {}
    if image:
        inputs["image"] = list(image) if len(image) > 1 else image[0]
    if audio is not None:
        inputs["audio"] = audio
    request = JobRequest(task=task, inputs=inputs, params=params, backend=backend, model=model, device=device)
    with _progress_bar(quiet) as on_progress:
        result = run_job(request, settings=settings, on_progress=on_progress)
    typer.echo(result.model_dump_json(indent=2))
    if result.status != "succeeded":
        err.print(f"[red]genserve: error:[/red] {result.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(error_class(result.error).exit_code)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)


class _progress_bar:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet or not err.is_terminal
        self.bar: Progress | None = None
        self.task_id: Any = None

    def __enter__(self) -> Any:
        if self.quiet:
            return None
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self.bar.start()
        self.task_id = self.bar.add_task("running", total=None)
        return self.update

    def update(self, step: int, total: int, message: str | None) -> None:
        if self.bar is None:
            return
        if step >= 0:
            self.bar.update(self.task_id, completed=step, total=total)
        if message:
            self.bar.update(self.task_id, description=message)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command()
def backends(
    task: Annotated[str | None, typer.Option(help="Only this task")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """List tasks, backends, whether each can run here (and what to install), and parameter defaults."""
    from genserve.backends.registry import describe_backends
    from genserve.tasks import get_task

    if task:
        get_task(task)
    rows = describe_backends(get_settings(), task)
    if as_json:
        typer.echo(json.dumps([{k: v for k, v in r.items() if k != "params_schema"} for r in rows], indent=2))
        return
    from rich.table import Table

    out = Console()
    current = None
    for row in rows:
        if row["task"] != current:
            current = row["task"]
            defaults = ", ".join(f"{k}={v!r}" for k, v in row["defaults"].items())
            out.print(f"\n[bold]{current}[/bold]  defaults: {defaults}", highlight=False)
            table = Table(show_header=True, box=None, pad_edge=False)
            for col in ("backend", "available", "default", "notes"):
                table.add_column(col)
            for r in (x for x in rows if x["task"] == current):
                state = "[green]yes[/green]" if r["available"] else "[red]no[/red]"
                notes = r["description"] if r["available"] else f"{r['reason']} -> {r['install'] or ''}"
                table.add_row(r["backend"], state, "*" if r["default"] else "", notes)
            out.print(table)


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False) -> None:
    """Report Python, torch/CUDA, GPU memory, PyAV/ffmpeg, disk, and which backends can run here."""
    from genserve.doctor import diagnose

    report = diagnose(get_settings())
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    out = Console()
    for key, value in report.items():
        if key == "backends":
            out.print("[bold]backends[/bold]")
            for b in value:
                mark = (
                    "[green]ok[/green]"
                    if b["available"]
                    else f"[red]no[/red] ({b['reason']}; {b['install']})"
                )
                out.print(f"  {b['task']:<15} {b['backend']:<20} {mark}", highlight=False)
        else:
            out.print(f"[bold]{key:<10}[/bold] {value}", highlight=False)


@app.command()
def version() -> None:
    """Print the genserve version."""
    typer.echo(__version__)


# Modules that add commands to the app: each has ``register(app: typer.Typer) -> None``.
# One line per module; keeps this file a thin table of doors.
COMMAND_MODULES: tuple[str, ...] = (
    "genserve.commands.models",
    "genserve.commands.gate",
    "genserve.commands.serve",
    "genserve.commands.jobs",
    "genserve.commands.worker",
)


def _register_commands() -> None:
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)


_register_commands()


def main() -> None:
    """Console entry point: typed errors become one line on stderr and their exit code."""
    try:
        code = app(standalone_mode=False)  # click returns a typer.Exit's code in this mode
        sys.exit(code if isinstance(code, int) else 0)
    except GenserveError as exc:
        err.print(f"[red]genserve: error:[/red] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
