"""The web UI: a Gradio front end mounted on the service's FastAPI app (one process, one queue).

``mount(app, service)`` is what ``genserve.api.create_app(webui=True)`` calls. The UI lives at
``/ui`` (``/`` opens it), the API stays under ``/v1`` with its docs at ``/docs``. Gradio is
imported only here, when the UI is mounted.

One page per language (``i18n.LANGUAGES``): English at ``/ui/``, 简体中文 at ``/ui/zh-CN/``.
Opening ``/ui/`` sends a browser to its language's page (the remembered switch, else
``Accept-Language``); ``/ui/lang/<code>`` is the switch: it remembers the choice in a cookie.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genserve.errors import missing_extra

UI_PATH = "/ui"


def mount(app: Any, service: Any) -> None:
    """Mount the UI on ``app`` (a FastAPI app) over ``service`` (a genserve.service.Service)."""
    try:
        import gradio as gr
    except ModuleNotFoundError as exc:
        raise missing_extra(exc.name or "gradio", "webui") from None
    from fastapi.responses import RedirectResponse

    from genserve.webui.i18n import COOKIE, COOKIE_MAX_AGE_S, DEFAULT, LANGUAGES, page_path
    from genserve.webui.pages import Pages

    settings = service.settings
    access = app.state.access

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PATH}/")

    @app.get(f"{UI_PATH}/lang/{{code}}", include_in_schema=False)
    def switch_language(code: str) -> RedirectResponse:
        """The language switch: remember the choice, open the page in that language."""
        lang = code if code in LANGUAGES else DEFAULT
        response = RedirectResponse(page_path(lang, UI_PATH), status_code=303)
        response.set_cookie(COOKIE, lang, max_age=COOKIE_MAX_AGE_S, samesite="lax", httponly=True)
        return response

    app.add_middleware(PageLanguage)

    # the other languages first: their paths lie under the English page's
    for lang in sorted(LANGUAGES, key=lambda code: code == DEFAULT):
        demo = Pages(service, access, lang=lang, ui_path=UI_PATH).build()
        demo.queue(default_concurrency_limit=8)
        gr.mount_gradio_app(
            app,
            demo,
            path=page_path(lang, UI_PATH).rstrip("/"),
            # outputs are shown from where the runner committed them, stored inputs for "run again"
            allowed_paths=[
                str(Path(settings.output_dir).resolve()),
                str((Path(settings.data_dir) / "inputs").resolve()),
            ],
            max_file_size=settings.max_upload_bytes,
            ssr_mode=False,
            footer_links=["api"],
        )


class PageLanguage:
    """ASGI middleware: a browser opening ``/ui/`` gets the page in the remembered language (the
    switch's cookie), else in its ``Accept-Language``; English stays at ``/ui/``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] in (UI_PATH, f"{UI_PATH}/"):
            from genserve.api.access import cookie
            from genserve.webui.i18n import COOKIE, DEFAULT, negotiate, page_path

            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            lang = negotiate(headers.get("accept-language"), cookie(headers, COOKIE) or None)
            if lang != DEFAULT and "text/html" in headers.get("accept", ""):
                location = scope.get("root_path", "") + page_path(lang, UI_PATH)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 307,
                        "headers": [(b"location", location.encode()), (b"vary", b"accept-language, cookie")],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)
