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

# NOTE: gradio's own words on the page (upload boxes, its components' buttons) follow the browser's
# navigator.language, read once when its frontend starts (gradio/templates/frontend/assets/i18n-*.js,
# before gradio's `head` is added); the page's HTML sets it to the page's language first, so a
# Chinese browser switched to English gets those in English too.
LOCALE_SCRIPT = (
    "<script>for (const name of ['language', 'languages']) Object.defineProperty(navigator, name, "
    "{get: () => name === 'language' ? 'LANG' : ['LANG'], configurable: true});</script>"
)


def mount(app: Any, service: Any) -> None:
    """Mount the UI on ``app`` (a FastAPI app) over ``service`` (a genserve.service.Service)."""
    try:
        import gradio as gr
    except ModuleNotFoundError as exc:
        raise missing_extra(exc.name or "gradio", "webui") from None
    from fastapi.responses import RedirectResponse

    from genserve.backends.registry import import_plugins
    from genserve.webui.i18n import COOKIE, COOKIE_MAX_AGE_S, DEFAULT, LANGUAGES, page_path
    from genserve.webui.pages import Pages

    settings = service.settings
    access = app.state.access
    import_plugins(settings)  # the tasks of GENSERVE_PLUGINS modules get their tabs too

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
    switch's cookie), else in its ``Accept-Language``; English stays at ``/ui/``. Each page's HTML
    sets gradio's own language to the page's (LOCALE_SCRIPT)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        from genserve.api.access import cookie
        from genserve.webui.i18n import COOKIE, DEFAULT, LANGUAGES, negotiate, page_path

        # 1. /ui/ in a browser: to the page in its language
        if scope["path"] in (UI_PATH, f"{UI_PATH}/"):
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
        # 2. a page's HTML: gradio's own words in the page's language too
        pages = {page_path(code, UI_PATH): code for code in LANGUAGES}
        page = pages.get(scope["path"]) or pages.get(scope["path"] + "/")
        await self.app(scope, receive, send if page is None else _with_locale(send, page))


def _with_locale(send: Any, lang: str) -> Any:
    """``send`` for a page's HTML with LOCALE_SCRIPT first in its <head> (other responses as they are)."""
    start: dict[str, Any] | None = None
    body = bytearray()

    async def wrapped(message: dict[str, Any]) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            content_type = dict(message.get("headers") or []).get(b"content-type", b"")
            if not content_type.startswith(b"text/html"):
                await send(message)
                return
            start = message
            return
        if start is None:
            await send(message)
            return
        body.extend(message.get("body", b""))
        if message.get("more_body"):
            return
        page = bytes(body).replace(b"<head>", b"<head>" + LOCALE_SCRIPT.replace("LANG", lang).encode(), 1)
        headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(page)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": page})

    return wrapped
