"""``create_app()``: the FastAPI app over one Service, with access control, metrics, JSON logs and
one exception handler that maps genserve's errors to HTTP."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from genserve import __version__
from genserve.api.access import Access, AccessMiddleware
from genserve.api.metrics import HttpMetricsMiddleware, Metrics
from genserve.config import Settings, get_settings
from genserve.errors import GenserveError, InvalidInput, MethodNotAllowed, NotFound
from genserve.service import Service
from genserve.tasks import TASKS

log = logging.getLogger("genserve.api")


# The service words a fix for every door (web UI, CLI, API); here it names the route that does it.
REST_FIXES = {
    "list your jobs to find its id": "GET /v1/jobs lists your jobs",
    "a finished job can be deleted, not canceled": "DELETE /v1/jobs/{id} removes a finished job",
    "cancel the job first": "POST /v1/jobs/{id}/cancel first",
    "the job's outputs name the artifacts it has": "GET /v1/jobs/{id} lists the job's outputs",
    "choose another id, or read the existing job": "choose another id, or GET /v1/jobs/{id} to read it",
}


def in_rest_terms(exc: GenserveError) -> GenserveError:
    fix = REST_FIXES.get(exc.fix or "")
    return exc.with_fix(fix) if fix else exc


def error_response(exc: GenserveError) -> JSONResponse:
    exc = in_rest_terms(exc)
    headers = {}
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    headers.update(getattr(exc, "headers", None) or {})
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)


def create_app(
    settings: Settings | None = None,
    *,
    webui: bool = False,
    service: Service | None = None,
    jobs_api: bool = True,
) -> FastAPI:
    """The app. With ``webui`` the Gradio UI (``genserve.webui``) is mounted when installed;
    without ``jobs_api`` it is a worker: it runs queued jobs and answers only health and metrics."""
    from genserve.backends.registry import import_plugins

    settings = settings or get_settings()
    import_plugins(settings)  # before the routes: each task's route and form come from its spec
    service = service or Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not service.started:
            service.start()
        log.info("genserve ready", extra={"executor": service.ready()["executor"].get("kind")})
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="genserve",
        version=__version__,
        description="AI media models as headless services: " + ", ".join(TASKS) + ".",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: genserve.api.docs, from packaged files (no CDN)
        redoc_url=None,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.metrics = Metrics(service)
    app.state.access = Access(settings, service.sessions)

    @app.exception_handler(GenserveError)
    async def on_genserve_error(request: Request, exc: GenserveError) -> JSONResponse:
        if exc.http_status >= 500:
            log.warning(
                "request failed: %s", exc.message, extra={"path": request.url.path, "error": exc.code}
            )
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"][1:]) or "request"
        return error_response(
            InvalidInput(
                err["msg"].lower(), argument=name, value=err.get("input"), fix=f"pass a valid {name}"
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """The router's own refusals (no such route, wrong method, ...) in genserve's error shape."""
        return error_response(routing_error(app, request, exc))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", extra={"path": request.url.path})
        return error_response(GenserveError(f"internal error ({type(exc).__name__}); see the server log"))

    from genserve.api.compat import router as compat_router
    from genserve.api.docs import add_docs
    from genserve.api.login import add_login_routes
    from genserve.api.routes import health_router, router, task_router

    app.include_router(health_router)
    if jobs_api:
        app.include_router(task_router())
        app.include_router(router)
        app.include_router(compat_router)
        add_docs(app)

    mounted = jobs_api and webui and _mount_webui(app, service)
    if jobs_api:
        add_login_routes(app, app.state.access, home="/ui/" if mounted else "/docs")
    if not mounted:

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/docs")

    app.add_middleware(HttpMetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(AccessMiddleware, access=app.state.access)
    return app


def _leaf_routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, including those of included routers (FastAPI keeps them nested)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        else:
            yield route


def routing_error(app: FastAPI, request: Request, exc: StarletteHTTPException) -> GenserveError:
    path = request.url.path
    if exc.status_code == 405:
        allowed: set[str] = set()
        for route in _leaf_routes(app.router.routes):
            regex, methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
            if regex is not None and methods and regex.match(path):
                allowed |= set(methods)
        allow = ", ".join(sorted(allowed | ({"HEAD"} if "GET" in allowed else set())))
        error: GenserveError = MethodNotAllowed(
            f"{path} does not take {request.method}",
            argument="method",
            value=request.method,
            fix=f"use {allow}",
        )
        error.headers = {"Allow": allow}  # type: ignore[attr-defined]
        return error
    if exc.status_code == 404:
        hint = "/docs lists the routes"
        if path.startswith("/v1/jobs/"):
            hint = "job ids and artifact names hold no '/'; GET /v1/jobs lists your jobs"
        return NotFound("no such route", argument="path", value=path, fix=hint)
    error = InvalidInput(str(exc.detail), argument="request", fix="see /docs for this route")
    error.http_status = exc.status_code if 400 <= exc.status_code < 500 else 400  # type: ignore[misc]
    return error


def _mount_webui(app: FastAPI, service: Service) -> bool:
    if importlib.util.find_spec("genserve.webui") is None:
        log.warning("the web UI is not installed here; serving the API only")
        return False
    import genserve.webui

    mount: Any = getattr(genserve.webui, "mount", None)
    if mount is None:
        log.warning("genserve.webui has no mount(app, service); serving the API only")
        return False
    mount(app, service)
    return True
