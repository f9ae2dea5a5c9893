"""The web UI: a Gradio front end mounted on the service's FastAPI app (one process, one queue).

``mount(app, service)`` is what ``genserve.api.create_app(webui=True)`` calls. The UI lives at
``/ui`` (``/`` opens it), the API stays under ``/v1`` with its docs at ``/docs``. Gradio is
imported only here, when the UI is mounted.
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

    from genserve.webui.pages import Pages

    settings = service.settings
    access = app.state.access

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PATH}/")

    demo = Pages(service, access).build()
    demo.queue(default_concurrency_limit=8)
    gr.mount_gradio_app(
        app,
        demo,
        path=UI_PATH,
        # outputs are shown from where the runner committed them, stored inputs for "run again"
        allowed_paths=[
            str(Path(settings.output_dir).resolve()),
            str((Path(settings.data_dir) / "inputs").resolve()),
        ],
        max_file_size=settings.max_upload_bytes,
        ssr_mode=False,
        footer_links=["api"],
    )
