"""/docs (Swagger UI) and /redoc from files inside an installed package, never from a CDN: the docs
work on air-gapped machines. The files come from ``fastapi-offline`` (in the ``server`` extra),
which ships Swagger UI's bundle and stylesheet and ReDoc's standalone script; without it the pages
fall back to FastAPI's CDN links and the server says so once at start.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

log = logging.getLogger("genserve.api")

DOCS_URL, REDOC_URL = "/docs", "/redoc"
ASSETS_URL = "/static-offline-docs"  # the package's own mount name, kept for familiarity
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_dir() -> Path | None:
    """The folder of the packaged Swagger UI / ReDoc files, or None when it is not installed."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if all((folder / name).is_file() for name in ASSETS) else None


def add_docs(app: FastAPI) -> bool:
    """Serve /docs, /docs/oauth2-redirect and /redoc (create the app with ``docs_url=None,
    redoc_url=None``). True when the assets are served locally."""
    folder = assets_dir()
    local = folder is not None
    if folder is not None:
        app.mount(ASSETS_URL, StaticFiles(directory=folder), name="docs-assets")
    else:
        log.warning("fastapi-offline is not installed: /docs and /redoc load their scripts from a CDN")
    oauth_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS_URL}/oauth2-redirect"

    def asset(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_URL}/{name}"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        extra: dict[str, Any] = (
            {
                "swagger_js_url": asset(request, "swagger-ui-bundle.js"),
                "swagger_css_url": asset(request, "swagger-ui.css"),
                "swagger_favicon_url": asset(request, "favicon.png"),
            }
            if local
            else {}
        )
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth_url}",
            swagger_ui_parameters=app.swagger_ui_parameters,
            **extra,
        )

    @app.get(oauth_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        extra: dict[str, Any] = (
            {
                "redoc_js_url": asset(request, "redoc.standalone.js"),
                "redoc_favicon_url": asset(request, "favicon.png"),
            }
            if local
            else {}
        )
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            with_google_fonts=not local,
            **extra,
        )

    return local
