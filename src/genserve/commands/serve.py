"""`genserve serve`: the REST API (and web UI) with the embedded executor, or a worker alone."""

from __future__ import annotations

import errno
import socket
from enum import StrEnum
from typing import Annotated

import typer

from genserve.config import get_settings
from genserve.errors import BackendUnavailable, GenserveError, missing_extra


class Mode(StrEnum):
    webui = "webui"
    api = "api"
    worker = "worker"


def port_holder(port: int) -> str | None:
    """'pid 1234 (python3)' for the process listening on ``port``, when this user may see it."""
    import psutil

    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            try:
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return None


def check_port(host: str, port: int) -> None:
    """Refuse a port that the server could not bind. Bound as uvicorn binds it (SO_REUSEADDR), so a
    port left in TIME-WAIT by a server just stopped counts as free here and in start_app.sh, which
    asks this same check (`genserve serve --check-port`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            holder = port_holder(port)
            if holder is None and exc.errno != errno.EADDRINUSE:
                raise GenserveError(
                    f"cannot listen on {host}:{port} ({exc.strerror})",
                    argument="--host",
                    value=host,
                    fix="pass an address of this machine, e.g. --host 127.0.0.1 or --host 0.0.0.0",
                ) from None
            raise GenserveError(
                f"port {port} is taken{' by ' + holder if holder else ''}",
                argument="--port",
                value=port,
                fix=f"stop that process or pass --port {port + 1}",
            ) from None


def serve(
    mode: Annotated[
        Mode, typer.Option(help="webui: UI + API; api: API only; worker: run jobs only")
    ] = Mode.api,
    host: Annotated[str | None, typer.Option(help="Bind address (default GENSERVE_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default GENSERVE_PORT, 7860)")] = None,
    workers: Annotated[int | None, typer.Option(help="Jobs run at once on CPU")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Debug logs")] = False,
    check_port_only: Annotated[
        bool,
        typer.Option("--check-port", hidden=True, help="Only check that the port is free (start_app.sh)"),
    ] = False,
) -> None:
    """Run the service in the foreground (start_app.sh runs it in the background)."""
    if check_port_only:
        settings = get_settings()
        check_port(host or settings.host, port or settings.port)
        return
    try:
        import uvicorn

        from genserve.api import create_app
        from genserve.api.logs import configure_logging
    except ModuleNotFoundError as exc:
        raise missing_extra(exc.name or "fastapi", "server") from None
    settings = get_settings()
    updates: dict[str, object] = {}
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    if workers is not None:
        updates["workers"] = workers
    settings = settings.model_copy(update=updates)
    configure_logging(settings, debug=debug)
    check_port(settings.host, settings.port)
    if (
        settings.host not in ("127.0.0.1", "localhost", "::1")
        and not settings.api_keys
        and not settings.allow_ips
    ):
        import logging

        logging.getLogger("genserve.serve").warning(
            "listening on %s with no API key and no IP allowlist: anyone who reaches this port can "
            "run jobs; set GENSERVE_API_KEYS or GENSERVE_ALLOW_IPS",
            settings.host,
        )
    try:
        app = create_app(settings, webui=mode == Mode.webui, jobs_api=mode != Mode.worker)
    except ModuleNotFoundError as exc:
        raise BackendUnavailable(
            f"the {mode} mode needs '{exc.name}'", fix="pip install 'genserve[server]'"
        ) from None
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10)


def register(app: typer.Typer) -> None:
    app.command()(serve)
