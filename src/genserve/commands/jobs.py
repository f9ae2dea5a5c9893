"""`genserve submit` and `genserve jobs list|show|cancel|delete|download`: the CLI of a running
server (for CI).

Exit codes are the table's (README, genserve.errors) for the same failure as `genserve run`: 0 the
job succeeded; a failed job exits with its error's code (1 internal, 2 refused input, 3 timeout,
4 backend unavailable, 5 out of memory, 6 canceled); 2 bad arguments; 3 the server is unreachable
or the wait timed out; 7 the key was refused; 8 rate limited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from genserve.commands import console
from genserve.commands.job_options import PromptOpt, SetOpt, job_params, task_command
from genserve.errors import GenserveError, InvalidInput, exit_code_of

ServerOpt = Annotated[str | None, typer.Option("--server", help="Server URL (default GENSERVE_SERVER_URL)")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", help="API key (default GENSERVE_API_KEY)")]
JobIdArg = Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id (`genserve jobs list`)")]


def _client(server: str | None, api_key: str | None) -> Any:
    from genserve.client import Client

    return Client(server, api_key=api_key)


class _Follow:
    """A job's events for people: one progress bar on a terminal; elsewhere one line per change of
    state (queued, started, completed), never a line per step."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = console.ProgressBar(quiet)
        self.update: Any = None

    def __enter__(self) -> _Follow:
        self.update = self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, event: dict[str, Any]) -> None:
        if self.quiet:
            return
        kind = event.get("type")
        if kind == "progress":
            if self.update is not None:
                self.update(int(event.get("step") or 0), event.get("total"), None)
            return
        if kind == "queued":
            pos = event.get("position")
            line = "queued" + (f" (position {pos})" if pos is not None else "")
        elif kind == "log":
            line = str(event.get("message") or "")
        elif kind in ("started", "requeued", "completed"):
            line = f"{kind}: {event.get('status')}" if kind == "completed" else kind
        else:
            return
        if self.update is not None:
            self.update(-1, None, line)
        elif kind != "log":
            console.note(f"  {line}")


def submit(
    task: str,
    inputs: dict[str, list[Path]],
    prompt: PromptOpt = None,
    set_: SetOpt = None,
    backend: Annotated[str | None, typer.Option(help="Backend (default: the server's choice)")] = None,
    model: Annotated[str | None, typer.Option(help="Model: hub id or a directory on the server")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N (on the server)")] = None,
    job_id: Annotated[
        str | None, typer.Option("--job-id", help="Your id for the job: a retry never runs it twice")
    ] = None,
    priority: Annotated[int, typer.Option(min=-100, max=100, help="Higher runs first")] = 0,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the result")] = False,
    timeout: Annotated[
        float, typer.Option(min=0.0, help="Seconds to wait with --wait; past them exit 3 (the job goes on)")
    ] = 3600.0,
    out: Annotated[
        Path | None, typer.Option(help="Download the artifacts and result.json here (implies --wait)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress")] = False,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Submit a job to a server; with --wait follow its progress, then print the job JSON."""
    try:
        params = job_params(prompt, set_)
        files: dict[str, Any] = dict(inputs)
        for name, value in files.items():
            for path in value:
                if not Path(path).is_file():
                    raise InvalidInput(
                        "file not found", argument=f"--{name}", value=str(path), fix="pass an existing file"
                    )
        with _client(server, api_key) as client:
            job = client.submit(
                task,
                files,
                params,
                backend=backend,
                model=model,
                device=device,
                job_id=job_id,
                priority=priority,
            )
            if not quiet:
                console.note(f"job {job['id']}: {job['status']}")
            if wait or out is not None:
                with _Follow(quiet) as follow:
                    job = client.wait(job["id"], timeout=timeout, on_event=follow)
                if out is not None and job["status"] == "succeeded":
                    for path in client.download(job, out):
                        if not quiet:
                            console.note(f"  saved {path}")
    except GenserveError as exc:
        raise console.fail(exc) from None
    typer.echo(json.dumps(job, indent=2))
    if (wait or out is not None) and job["status"] != "succeeded":
        console.error(
            console.in_cli_terms(job.get("message") or job["status"]), f"genserve: job {job['status']}"
        )
        raise typer.Exit(
            exit_code_of(job.get("error") or ("canceled" if job["status"] == "canceled" else None))
        )
    for warning in job.get("warnings") or []:
        console.warning(warning)


jobs_app = console.new_typer(help="Jobs on a server: list, show, cancel, delete, download.")


@jobs_app.command("list")
def list_jobs(
    status: Annotated[
        str | None, typer.Option(help="queued, running, succeeded, failed, canceled (comma-separated)")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Only jobs of this task")] = None,
    backend: Annotated[str | None, typer.Option(help="Only jobs of this backend")] = None,
    git_commit: Annotated[str | None, typer.Option("--git-commit", help="A commit (or its prefix)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many jobs")] = 20,
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
        raise console.fail(exc) from None
    if as_json:
        typer.echo(json.dumps(page, indent=2))
        return
    given = {"status": status, "task": task, "backend": backend, "git-commit": git_commit}
    filters = " ".join(f"--{k} {v}" for k, v in given.items() if v)
    rows = [
        (
            j["id"],
            j["status"],
            j["task"],
            j.get("backend") or "",
            j.get("created_at") or "",
            j.get("message") or "",
        )
        for j in page["jobs"]
    ]
    headers = ("id", "status", "task", "backend", "created", "message")
    typer.echo(console.table(headers, rows, empty=f"no jobs{' match ' + filters if filters else ''}"))
    if page.get("next_cursor"):
        console.note(f"more jobs: raise --limit (now {limit}) or narrow the filters")


@jobs_app.command("show")
def show(job_id: JobIdArg, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Print one job (status, history, result) as JSON."""
    try:
        with _client(server, api_key) as client:
            typer.echo(json.dumps(client.get(job_id), indent=2))
    except GenserveError as exc:
        raise console.fail(exc) from None


@jobs_app.command("cancel")
def cancel(job_id: JobIdArg, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Cancel a job: a queued one at once, a running one at its next step."""
    try:
        with _client(server, api_key) as client:
            job = client.cancel(job_id)
    except GenserveError as exc:
        raise console.fail(exc) from None
    typer.echo(json.dumps(job, indent=2))


@jobs_app.command("delete")
def delete(job_id: JobIdArg, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Delete a finished job and its files on the server."""
    try:
        with _client(server, api_key) as client:
            client.delete(job_id)
    except GenserveError as exc:
        raise console.fail(exc) from None
    console.note(f"job {job_id} deleted")


@jobs_app.command("download")
def download(
    job_id: JobIdArg,
    out: Annotated[Path, typer.Option(help="Folder for the artifacts and result.json")] = Path("."),
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Save a finished job's artifacts and its result.json into --out; prints the paths."""
    try:
        with _client(server, api_key) as client:
            job = client.get(job_id)
            if job["status"] != "succeeded":
                raise InvalidInput(
                    f"has no artifacts: it is {job['status']}",
                    argument="JOB_ID",
                    value=job_id,
                    fix="wait for it (`genserve jobs show JOB_ID`), or download a succeeded job",
                )
            paths = client.download(job, out)
    except GenserveError as exc:
        raise console.fail(exc) from None
    for path in [*paths, out / "result.json"]:
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    task_command("submit", submit)
    app.add_typer(jobs_app, name="jobs")
