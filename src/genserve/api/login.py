"""The login page (web UI, /docs): with API keys configured, a browser trades a key for a session.

The cookie holds a random session token kept server-side (``genserve.sessions``), never the key;
the access middleware accepts it wherever it accepts the key, so the UI, its file downloads and the
artifact URLs the video player loads are guarded exactly like the API. ``/logout`` deletes the
session on the server, so a copied cookie stops working too; each login hands out a new token.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from genserve.api.access import SESSION_COOKIE, Access

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>genserve: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}}
input,button{{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;margin:.4rem 0}}
.error{{color:#b00020}}</style></head>
<body><h1>genserve</h1>
<p>This service needs an API key (one of <code>GENSERVE_API_KEYS</code>). Jobs you start here are
counted against that key.</p>
{error}
<form method="post" action="{action}">
<input type="hidden" name="next" value="{next}">
<label for="api-key">API key</label>
<input id="api-key" name="key" type="password" autocomplete="current-password" autofocus required>
<button id="sign-in" type="submit">Sign in</button>
</form></body></html>"""


def safe_next(value: str | None, default: str) -> str:
    """Only a path on this server (no '//host' or scheme): no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def add_login_routes(app: FastAPI, access: Access, home: str) -> None:
    """GET/POST /login and GET /logout on ``app``; tells the access middleware where login is."""
    app.state.login_path = LOGIN_PATH

    def page(next_path: str, error: str = "", status: int = 200) -> HTMLResponse:
        shown = f'<p class="error" id="login-error">{html.escape(error)}</p>' if error else ""
        body = _PAGE.format(error=shown, action=LOGIN_PATH, next=html.escape(next_path, quote=True))
        return HTMLResponse(body, status_code=status)

    @app.get(LOGIN_PATH, include_in_schema=False)
    def login_form(next: str | None = None) -> Response:
        if not access.keys:
            return RedirectResponse(safe_next(next, home), status_code=303)
        return page(safe_next(next, home))

    @app.post(LOGIN_PATH, include_in_schema=False)
    async def login(request: Request) -> Response:
        form: Any = await request.form(max_files=0, max_fields=4)
        key = str(form.get("key") or "").strip()
        next_path = safe_next(str(form.get("next") or ""), home)
        if not access.keys:
            return RedirectResponse(next_path, status_code=303)
        headers = {k.lower(): v for k, v in request.headers.items()}
        access.logout(headers)  # a new login replaces the browser's old session
        token = access.login(key)
        if token is None:
            error = "That key is not valid. Ask the admin for a key from GENSERVE_API_KEYS."
            return page(next_path, error if key else "Enter an API key.", status=401)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(access.session_ttl_s),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @app.get(LOGOUT_PATH, include_in_schema=False)
    @app.post(LOGOUT_PATH, include_in_schema=False)
    def logout(request: Request) -> Response:
        access.logout({k.lower(): v for k, v in request.headers.items()})
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
