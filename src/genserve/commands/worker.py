"""`genserve worker`: a Celery worker that runs the jobs published to its queues (one per GPU)."""

from __future__ import annotations

from typing import Annotated

import typer

from genserve.config import get_settings
from genserve.errors import InvalidInput


def worker(
    queues: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated queues: task names, or task.pool for a GPU pool "
            "(default: every task's queue)"
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu | cuda | cuda:N (one worker per GPU)")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs run at once (1 per GPU)")] = 1,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Port of /metrics, /healthz, /readyz (default GENSERVE_WORKER_METRICS_PORT, 9100)"),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Debug logs")] = False,
) -> None:
    """Run jobs from the broker (GENSERVE_BROKER_URL) and the shared store (GENSERVE_DATABASE_URL)."""
    from genserve.api.logs import configure_logging
    from genserve.backends.registry import import_plugins
    from genserve.jobs.celery_app import queue_name
    from genserve.jobs.worker import run_worker
    from genserve.tasks import TASKS

    settings = get_settings()
    if metrics_port is not None:
        settings = settings.model_copy(update={"worker_metrics_port": metrics_port})
    names = [q.strip() for q in (queues or ",".join(TASKS)).split(",") if q.strip()]
    for name in names:
        task, _, pool = name.partition(".")
        if task not in TASKS:
            raise InvalidInput(
                "names a queue of no task",
                argument="--queues",
                value=name,
                fix=f"use task names ({', '.join(TASKS)}), optionally with a pool: image-to-video.a100",
            )
        queue_name(task, pool or None)  # checks the pool's name
    configure_logging(settings, debug=debug)
    import_plugins(settings)
    run_worker(settings, names, device, concurrency, loglevel="DEBUG" if debug else "INFO")


def register(app: typer.Typer) -> None:
    app.command()(worker)
