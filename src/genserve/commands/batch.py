"""`genserve batch MANIFEST` and `genserve batch status MANIFEST`: thin doors over genserve.batch.

Exit codes (genserve.errors.ExitCode, the CLI's one table): 0 every row succeeded; 10 rows failed
(more than --max-failures) or did not finish; 2 a bad manifest or bad arguments (nothing was
submitted); 3 the server is unreachable; 130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from genserve.config import Settings, get_settings
from genserve.errors import ExitCode, GenserveError, InvalidInput

PREFIX = "genserve batch: error:"


class ProgressMode(StrEnum):
    auto = "auto"
    rich = "rich"
    json = "json"
    none = "none"


class _RunByDefault(TyperGroup):
    """`genserve batch MANIFEST ...` is short for `genserve batch run MANIFEST ...`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


batch_app = typer.Typer(
    cls=_RunByDefault,
    help="Run a manifest (JSONL, CSV or YAML; one job per row) as a batch: validated first, resumable, "
    "with progress, results tables and a contact sheet. `genserve batch MANIFEST` is `genserve batch run "
    "MANIFEST`.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ManifestArg = Annotated[Path, typer.Argument(help="The manifest: .jsonl, .csv or .yaml; one job per row")]
ServerOpt = Annotated[
    str | None, typer.Option("--server", help="Run on this genserve server (default GENSERVE_SERVER_URL)")
]
LocalOpt = Annotated[bool, typer.Option("--local", help="Run the jobs in this process (no server)")]
KeyOpt = Annotated[
    str | None, typer.Option("--api-key", help="API key for --server (default GENSERVE_API_KEY)")
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Outputs (<out>/<row id>/) and reports; default <output dir>/batches/<batch id>"
    ),
]
BatchIdOpt = Annotated[
    str | None,
    typer.Option("--batch-id", help="The batch's id (default: the manifest's name); part of job ids"),
]
MaxFailuresOpt = Annotated[int, typer.Option("--max-failures", min=0, help="Failed rows tolerated (exit 0)")]
ProgressOpt = Annotated[
    ProgressMode,
    typer.Option("--progress", help="auto: a live display on a terminal, JSON lines otherwise"),
]


@batch_app.command("run")
def run(
    manifest: ManifestArg,
    server: ServerOpt = None,
    local: LocalOpt = False,
    out: OutOpt = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Jobs in flight at once")
    ] = 4,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="Run failed rows again, as a new attempt (canceled ones always are)"
        ),
    ] = False,
    max_failures: MaxFailuresOpt = 0,
    detach: Annotated[
        bool,
        typer.Option("--detach", help="Submit and return; jobs run on (`genserve batch status` reattaches)"),
    ] = False,
    batch_id: BatchIdOpt = None,
    api_key: KeyOpt = None,
    progress: ProgressOpt = ProgressMode.auto,
) -> None:
    """Validate every row, then submit, follow and download the batch's jobs. Rows that succeeded in
    an earlier run are not run again; rows still running are followed; canceled rows run again as a new
    attempt, failed rows only with --retry-failed. Ctrl-C cancels the unfinished jobs."""
    from genserve.batch.engine import Options

    if detach and local:
        _error("--detach: needs --server (with --local the jobs run in this process). Fix: drop --detach")
        raise typer.Exit(ExitCode.INVALID_INPUT)
    options = Options(
        concurrency=concurrency,
        retry_failed=retry_failed,
        wait=not detach,
        cancel_on_interrupt=not detach,
    )
    _execute(manifest, server, local, api_key, out, batch_id, options, progress, max_failures, concurrency)


@batch_app.command("status")
def status(
    manifest: ManifestArg,
    server: ServerOpt = None,
    local: LocalOpt = False,
    out: OutOpt = None,
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="Follow unfinished jobs to the end, or report as things stand"),
    ] = True,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Jobs followed at once")
    ] = 16,
    max_failures: MaxFailuresOpt = 0,
    batch_id: BatchIdOpt = None,
    api_key: KeyOpt = None,
    progress: ProgressOpt = ProgressMode.auto,
) -> None:
    """Reattach to a batch: follow its unfinished jobs, download what succeeded and write the reports;
    submits nothing, and Ctrl-C leaves the jobs running."""
    from genserve.batch.engine import Options

    options = Options(concurrency=concurrency, submit=False, wait=wait, cancel_on_interrupt=False)
    _execute(manifest, server, local, api_key, out, batch_id, options, progress, max_failures, 1)


def _execute(
    manifest_path: Path,
    server: str | None,
    local: bool,
    api_key: str | None,
    out: Path | None,
    batch_id: str | None,
    options: Any,
    progress: ProgressMode,
    max_failures: int,
    local_workers: int,
) -> None:
    from genserve.batch.board import Board
    from genserve.batch.contact_sheet import write_index
    from genserve.batch.engine import BatchRun
    from genserve.batch.ids import check_batch_id, default_batch_id
    from genserve.batch.manifest import read_manifest
    from genserve.batch.results import write_results
    from genserve.batch.rows import ManifestInvalid, validate_manifest

    settings = get_settings()
    target: Any = None
    try:
        # 1. arguments and the manifest, every row checked before anything is submitted
        if local and server is not None:
            raise InvalidInput(
                "say where the jobs run: --local or --server URL, not both",
                argument="--local/--server",
                fix="drop one of them",
            )
        manifest = read_manifest(manifest_path)
        batch = check_batch_id(batch_id) if batch_id is not None else default_batch_id(manifest.path)
        out_dir = (out if out is not None else Path(settings.output_dir) / "batches" / batch).resolve()
        target = _target(settings, local, server, api_key, out_dir, local_workers)
        rows = validate_manifest(manifest, target.catalog(), settings)
        # 2. run: find, submit, follow, download
        target.open()
        board = Board(batch, rows, _reporter(progress), where=target.where)
        run = BatchRun(board, target, out_dir, options)
        with _sigterm_as_interrupt():
            run.run()
        # 3. reports
        paths = write_results(board, out_dir)
        index = write_index(board, out_dir)
    except ManifestInvalid as exc:
        _error(exc.message)
        for line in exc.lines():
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(ExitCode.INVALID_INPUT) from None
    except KeyboardInterrupt:
        _error("interrupted before anything was submitted")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except GenserveError as exc:
        _error(exc.message)
        raise typer.Exit(exc.exit_code) from None
    finally:
        if target is not None:
            target.close()
    again = (
        f"genserve batch status {manifest_path} "
        + (f"--server {server}" if server else "")
        + (f" --batch-id {batch}" if batch_id else "")
    )
    raise typer.Exit(_finish(board, run, out_dir, paths, index, options, max_failures, again.strip()))


def _finish(
    board: Any,
    run: Any,
    out_dir: Path,
    paths: dict[str, Path],
    index: Path,
    options: Any,
    limit: int,
    reattach: str,
) -> int:
    counts = board.counts()
    failed = counts.get("failed", 0) + counts.get("canceled", 0)
    unfinished = counts.get("not_submitted", 0) + (
        counts.get("queued", 0) + counts.get("running", 0) if options.wait else 0
    )
    summary = {
        "batch": board.batch_id,
        "rows": board.total,
        "counts": counts,
        "earlier_run": sum(s.earlier for s in board.states),
        "wall_s": round(board.elapsed(), 3),
        "out": str(out_dir),
        "results": str(paths["jsonl"]),
        "junit": str(paths["junit"]),
        "index": str(index),
    }
    typer.echo(json.dumps(summary))
    words = " · ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items())
    typer.echo(f"batch {board.batch_id}: {words} ({board.total} rows); see {index}", err=True)
    if run.fatal is not None:
        _error(run.fatal.message)
        return ExitCode.UNREACHABLE
    if run.interrupted:
        what = "left running" if not options.cancel_on_interrupt else "canceled"
        _error(f"interrupted: unfinished jobs {what}; run the same command again to go on")
        return ExitCode.INTERRUPTED
    if not options.wait and options.submit and unfinished == 0:
        typer.echo(f"detached: the jobs run on; `{reattach}` follows them", err=True)
    if failed > limit:
        return ExitCode.ROWS_FAILED
    if unfinished or (not options.submit and counts.get("succeeded", 0) + failed < board.total):
        return ExitCode.ROWS_FAILED
    return ExitCode.OK


def _target(
    settings: Settings, local: bool, server: str | None, api_key: str | None, out_dir: Path, workers: int
) -> Any:
    from genserve.batch.target import LOCAL_FOLDER, LocalTarget, ServerTarget

    if local:
        return LocalTarget(settings, out_dir / LOCAL_FOLDER, workers)
    return ServerTarget(server, api_key, settings)


def _reporter(mode: ProgressMode) -> Any:
    from genserve.batch.progress import JsonLines, LiveDisplay, Silent

    if mode == ProgressMode.auto:
        mode = ProgressMode.rich if sys.stderr.isatty() else ProgressMode.json
    if mode == ProgressMode.rich:
        return LiveDisplay()
    if mode == ProgressMode.json:
        return JsonLines()
    return Silent()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A CI system stopping the job sends SIGTERM: it is handled like Ctrl-C (jobs canceled)."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _error(message: str) -> None:
    typer.echo(f"{typer.style(PREFIX, fg='red')} {' '.join(message.split())}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(batch_app, name="batch")
