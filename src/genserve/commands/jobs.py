"""`genserve submit` and `genserve jobs list|show|cancel`: the CLI of a running server (for CI).

Exit codes of `submit`: 0 the job succeeded, 1 it failed, 2 usage (bad arguments, refused input),
3 the server is unreachable or the wait timed out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from genserve.commands.job_options import AudioOpt, ImageOpt, PromptOpt, SetOpt, TaskArg, job_params
from genserve.errors import GenserveError, InvalidInput, JobTimeout, ServerUnreachable

err = Console(stderr=True)
EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3

ServerOpt = Annotated[str | None, typer.Option("--server", help="Server URL (default GENSERVE_SERVER_URL)")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", help="API key (default GENSERVE_API_KEY)")]


def _client(server: str | None, api_key: str | None) -> Any:
    from genserve.client import Client

    return Client(server, api_key=api_key)


def _exit_for(exc: GenserveError) -> int:
    if isinstance(exc, ServerUnreachable | JobTimeout):
        return EXIT_UNREACHABLE
    if isinstance(exc, InvalidInput):
        return EXIT_USAGE
    return exc.exit_code


def _fail(exc: GenserveError) -> typer.Exit:
    err.print(f"[red]genserve: error:[/red] {exc.message}", highlight=False, soft_wrap=True)
    return typer.Exit(_exit_for(exc))


def _print_event(event: dict[str, Any]) -> None:
    kind = event.get("type")
    if kind == "progress":
        eta = f", eta {event['eta_s']:.1f}s" if event.get("eta_s") is not None else ""
        err.print(f"  progress {event.get('step')}/{event.get('total')}{eta}", highlight=False)
    elif kind == "queued":
        pos = f" (position {event['position']})" if event.get("position") is not None else ""
        err.print(f"  queued{pos}", highlight=False)
    elif kind == "log":
        err.print(f"  {event.get('message')}", highlight=False)
    elif kind in ("started", "requeued", "completed"):
        err.print(f"  {kind}: {event.get('status')}", highlight=False)


def submit(
    task: TaskArg,
    image: ImageOpt = None,
    audio: AudioOpt = None,
    prompt: PromptOpt = None,
    set_: SetOpt = None,
    backend: Annotated[str | None, typer.Option(help="Backend (default: the server's choice)")] = None,
    job_id: Annotated[
        str | None, typer.Option("--job-id", help="Your id for the job: a retry never runs it twice")
    ] = None,
    priority: Annotated[int, typer.Option(help="Higher runs first")] = 0,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the result")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait")] = 3600.0,
    out: Annotated[
        Path | None, typer.Option(help="Download the artifacts and result.json here (implies --wait)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines")] = False,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Submit a job to a server; with --wait follow its progress, then print the job JSON."""
    try:
        params = job_params(prompt, set_)
        files: dict[str, Any] = {}
        if image:
            files["image"] = list(image)
        if audio is not None:
            files["audio"] = audio
        for name, value in files.items():
            for path in value if isinstance(value, list) else [value]:
                if not Path(path).is_file():
                    raise InvalidInput(
                        "file not found", argument=f"--{name}", value=str(path), fix="pass an existing file"
                    )
        with _client(server, api_key) as client:
            job = client.submit(task, files, params, backend=backend, job_id=job_id, priority=priority)
            if not quiet:
                err.print(f"job {job['id']}: {job['status']}", highlight=False)
            if wait or out is not None:
                job = client.wait(job["id"], timeout=timeout, on_event=None if quiet else _print_event)
                if out is not None and job["status"] == "succeeded":
                    for path in client.download(job, out):
                        if not quiet:
                            err.print(f"  saved {path}", highlight=False)
    except GenserveError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(job, indent=2))
    if (wait or out is not None) and job["status"] != "succeeded":
        err.print(
            f"[red]genserve: job {job['status']}:[/red] {job.get('message')}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(EXIT_FAILED)


jobs_app = typer.Typer(help="Jobs on a server: list, show, cancel.", no_args_is_help=True)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed, canceled")] = None,
    task: Annotated[str | None, typer.Option()] = None,
    backend: Annotated[str | None, typer.Option()] = None,
    git_commit: Annotated[str | None, typer.Option("--git-commit")] = None,
    limit: Annotated[int, typer.Option()] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """List jobs, newest first."""
    try:
        with _client(server, api_key) as client:
            page = client.list_jobs(
                status=status, task=task, backend=backend, git_commit=git_commit, limit=limit
            )
    except GenserveError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(page, indent=2))
        return
    out = Console()
    for job in page["jobs"]:
        out.print(
            f"{job['id']}  {job['status']:<9}  {job['task']:<15} {job['backend'] or '':<12} "
            f"{job['created_at']}",
            highlight=False,
            soft_wrap=True,
        )


@jobs_app.command("show")
def show(job_id: str, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Print one job (status, history, result) as JSON."""
    try:
        with _client(server, api_key) as client:
            typer.echo(json.dumps(client.get(job_id), indent=2))
    except GenserveError as exc:
        raise _fail(exc) from None


@jobs_app.command("cancel")
def cancel(job_id: str, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Cancel a job: a queued one at once, a running one at its next step."""
    try:
        with _client(server, api_key) as client:
            job = client.cancel(job_id)
    except GenserveError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(job, indent=2))


def register(app: typer.Typer) -> None:
    app.command()(submit)
    app.add_typer(jobs_app, name="jobs")
