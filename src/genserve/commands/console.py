"""What the CLI writes for people: error and warning lines, tables and one progress bar.

Messages are printed as plain text, never as Rich markup (``genserve[modelscope]`` stays as it is
written); colour only reaches a terminal (click strips it from pipes and files). The exit code of a
failure is the one in genserve.errors' table, whichever command met it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from typing import Any

import typer

from genserve.errors import GenserveError


def new_typer(**kwargs: Any) -> typer.Typer:
    """A command group with the CLI's manners: help as plain text (a flag shows no ``<bool>``, so
    nobody types ``--quiet true``), click's own usage errors (one line, "Did you mean", exit 2)."""
    options: dict[str, Any] = {
        "no_args_is_help": True,
        "rich_markup_mode": None,
        "pretty_exceptions_enable": False,
        "add_completion": False,
    }
    return typer.Typer(**{**options, **kwargs})


def error(message: str, prefix: str = "genserve: error") -> None:
    """One line on stderr: ``genserve: error: <message>``."""
    typer.echo(f"{typer.style(prefix + ':', fg='red')} {one_line(message)}", err=True)


def warning(message: str) -> None:
    typer.echo(f"{typer.style('warning:', fg='yellow')} {one_line(message)}", err=True)


def note(message: str) -> None:
    """A line for people on stderr (stdout stays for JSON)."""
    typer.echo(message, err=True)


# The server words its fixes for HTTP; `submit` and `jobs` say them in the CLI's terms.
CLI_WORDS: tuple[tuple[str, str], ...] = (
    (r"^Authorization: ", "--api-key: "),
    (
        r"Fix: send the header 'Authorization: Bearer <key>' with a key from GENSERVE_API_KEYS",
        "Fix: pass --api-key KEY (or set GENSERVE_API_KEY) with a key the server accepts",
    ),
    (r"GET /v1/jobs lists your jobs", "`genserve jobs list` shows your jobs"),
    (
        r"DELETE /v1/jobs/\{id\} removes a finished job",
        "`genserve jobs delete JOB_ID` removes a finished job",
    ),
    (r"Fix: send the (\w+) file", r"Fix: pass --\1 FILE"),
    (r"^(\w+): is not an input of ", r"--\1: is not an input of "),
    (r"Fix: add -F task=", "Fix: pass the task, e.g. "),
)


def in_cli_terms(message: str) -> str:
    """``message`` with the HTTP door's words (headers, routes, form fields) in the CLI's."""
    import re

    for pattern, words in CLI_WORDS:
        message = re.sub(pattern, words, message)
    return message


def one_line(message: str) -> str:
    return " ".join(str(message).split())


def fail(exc: GenserveError, prefix: str = "genserve: error", exit_code: int | None = None) -> typer.Exit:
    """Print the error in the CLI's terms and return the Exit with its exit code from the table
    (``raise fail(exc) from None``)."""
    error(in_cli_terms(exc.message), prefix)
    return typer.Exit(exc.exit_code if exit_code is None else exit_code)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str, header: bool = True) -> str:
    """An aligned plain-text table with a header row; ``empty`` when there are no rows. The last
    column is never wrapped or padded, so long notes stay one line that grep and terminals keep."""
    if not rows:
        return empty
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    if header:
        cells.insert(0, [str(h) for h in headers])
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers) - 1)]
    lines = []
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def install_steps(rows: Sequence[dict[str, Any]]) -> None:
    """How to make each unavailable backend available, one command a line (after the tables, so
    that a long install never wraps inside a column)."""
    missing = [r for r in rows if not r.get("available") and r.get("install")]
    if not missing:
        return
    typer.echo("to make the others available:")
    for row in missing:
        steps = [s.strip() for s in str(row["install"]).replace("; then ", " && ").split(" && ")]
        typer.echo(f"  {row['backend']}:")
        for step in steps:
            typer.echo(f"    {step}")


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters at a word boundary, with an ellipsis."""
    text = one_line(text)
    if len(text) <= width:
        return text
    cut = text[: width - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + "…"


def terminal_width() -> int:
    return shutil.get_terminal_size((100, 24)).columns


class ProgressBar:
    """One progress bar on stderr when it is a terminal (nothing otherwise): steps once the backend
    knows its total, the stage's message before (e.g. ``loading model``), never ``0/None``."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.quiet = quiet or not self.console.is_terminal
        self.bar: Any = None
        self.task_id: Any = None

    def __enter__(self) -> Callable[[int, int | None, str | None], None] | None:
        if self.quiet:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.fields[steps]}", markup=False),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.bar.start()
        self.task_id = self.bar.add_task("starting", total=None, steps="")
        return self.update

    def update(self, step: int, total: int | None, message: str | None = None) -> None:
        if self.bar is None:
            return
        if step >= 0 and total:
            self.bar.update(self.task_id, completed=step, total=total, steps=f"{step}/{total}")
        if message:
            self.bar.update(self.task_id, description=fit(message, 40))

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
