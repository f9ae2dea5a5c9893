"""The UI's pages: one tab per task and a history tab, all built from the task registry.

Each task tab is generated from its TaskSpec: its input widgets by kind (``media_inputs``), its
parameter widgets from the Params model (``forms``), the presets the task declares, its upload
suggestion (``spec.suggest``), a picker of the backends that can run here, and its result shown by
its output kind or view (``results``). Submitting goes through :class:`genserve.service.Service`,
the same queue the REST API feeds; the tab then follows the job's record (``running``).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import gradio as gr

from genserve.api.access import Access
from genserve.backends.registry import describe_backends
from genserve.caller import Caller
from genserve.service import Service
from genserve.tasks import TASKS, TaskSpec
from genserve.webui import render, results, running
from genserve.webui.forms import form_specs, make_widget
from genserve.webui.i18n import DEFAULT, LANGUAGES, Translator
from genserve.webui.media_inputs import make_input
from genserve.webui.presets import preset
from genserve.webui.running import TaskTab

__all__ = ["Pages", "TaskTab", "slug"]

log = logging.getLogger("genserve.webui")


def _skip_api(_self: Any) -> bool:
    return True


# The job's <progress> bar: drawn on the page with gradio's HTML component (is_template), left out
# of what an API call returns (skip_api; the status line says the same in words).
# NOTE: made with type.__new__, past gradio's ComponentMeta.__new__, which writes a .pyi stub beside
# the source of each Component subclass (gradio/component_meta.py, create_or_modify_pyi); the events
# are HTML's own, inherited.
ProgressBar: Any = type.__new__(
    type(gr.HTML),
    "ProgressBar",
    (gr.HTML,),
    {"is_template": True, "skip_api": property(_skip_api), "__module__": __name__},
)


def slug(task: str) -> str:
    return task.replace("-", "_")


class Pages:
    """The page in one language (``lang``: a key of ``i18n.LANGUAGES``; ``translator`` overrides it)."""

    def __init__(
        self,
        service: Service,
        access: Access | None = None,
        lang: str = DEFAULT,
        translator: Translator | None = None,
        ui_path: str = "/ui",
    ) -> None:
        self.service = service
        self.access = access or Access(service.settings, service.sessions)
        self.t = translator or Translator(lang)
        self.ui_path = ui_path
        self.tabs: dict[str, TaskTab] = {}

    # --- who is asking -------------------------------------------------------------------------

    def caller(self, request: gr.Request | None) -> Caller:
        """Who is asking (from the Bearer header or the login cookie); Unauthorized when keys are
        configured and none is valid. The middleware checked already; this keeps the handlers closed
        even if the UI were mounted without it, and gives the service the caller it enforces."""
        headers = {}
        if request is not None and getattr(request, "headers", None) is not None:
            headers = {str(k).lower(): str(v) for k, v in request.headers.items()}
        return self.access.caller(headers)

    # --- the whole UI --------------------------------------------------------------------------

    def build(self) -> gr.Blocks:
        _ = self.t
        with gr.Blocks(title="genserve") as demo:
            with gr.Row():
                gr.Markdown(
                    "# genserve\n"
                    + _(
                        "Try parameters here; the same jobs run through the REST API "
                        "(`/v1`, docs at [/docs](/docs)) and the CLI."
                    )
                )
                # the language switch: a link that remembers the choice (a cookie) and opens the page
                # (HTML: gradio opens Markdown links in a new tab)
                switch = " · ".join(
                    f"<b>{html.escape(name)}</b>"
                    if code == self.t.lang
                    else f'<a href="{self.ui_path}/lang/{code}" target="_self">{html.escape(name)}</a>'
                    for code, name in LANGUAGES.items()
                )
                gr.HTML(switch, elem_id="language")
                if self.access.enabled:
                    sign_out = _("Sign out")
                    gr.Markdown(f"[{sign_out}](/logout)", elem_id="sign-out")
            with gr.Tabs() as tabs:
                for spec in TASKS.values():
                    with gr.Tab(_(spec.title), id=spec.name, elem_id=f"tab-{spec.name}"):
                        self.tabs[spec.name] = self.task_tab(spec)
                with gr.Tab(_("History"), id="history", elem_id="tab-history") as history_tab:
                    from genserve.webui.history import History

                    History(self).build(tabs, history_tab)
        return demo

    # --- one task ------------------------------------------------------------------------------

    def task_tab(self, spec: TaskSpec) -> TaskTab:
        """The tab of ``spec``: its inputs, presets (when it declares some), backend and parameters on
        the left, the job and its result (``results.slots``) on the right."""
        _ = self.t
        name = spec.name
        tab = TaskTab(spec=spec, specs=form_specs(spec.params_model), slots=results.slots(spec))
        gr.Markdown(_(spec.description))
        with gr.Row():
            with gr.Column(scale=1):
                for media in spec.inputs:
                    box, more = make_input(media, name, self.t)
                    tab.media.append(box)
                    if more is not None:
                        tab.more[media.name] = more
                suggestion_text = gr.Markdown(visible=False, elem_id=f"{name}-suggestion")
                accept = gr.Button(
                    _("Use this suggestion"), visible=False, elem_id=f"{name}-accept", size="sm"
                )
                suggested = gr.State({})
                presets = None
                if spec.presets:
                    presets = gr.Radio(
                        [(_(preset_name), preset_name) for preset_name in spec.presets],
                        value="Standard" if "Standard" in spec.presets else None,
                        label=_("Preset"),
                        info=_("Fills the speed/quality fields; Standard is the recommended defaults."),
                        elem_id=f"{name}-preset",
                    )
                tab.backend = self.backend_picker(name)
                with gr.Accordion(_("Parameters"), open=True):
                    tab.widgets = [make_widget(s, f"{name}-", self.t) for s in tab.specs]
                with gr.Row():
                    submit = gr.Button(_("Run"), variant="primary", elem_id=f"{name}-submit")
                    cancel = gr.Button(_("Cancel"), elem_id=f"{name}-cancel")
                # the job's state, warnings and refusals right under the button that started it
                status = gr.Markdown(elem_id=f"{name}-status")
                bar = ProgressBar(elem_id=f"{name}-progress")
                notes = gr.Markdown(elem_id=f"{name}-notes")
                shown = gr.State("")  # the status shown: a refusal or failure is cleared by a new input
            with gr.Column(scale=1):
                job_id = gr.Textbox(label=_("Job id"), interactive=False, elem_id=f"{name}-job")
                outputs = [results.make_slot(slot, results.elem_id(spec, slot), self.t) for slot in tab.slots]

        # the suggestion: shown after an upload of the first input, applied only when accepted
        if spec.suggest is not None and spec.inputs and spec.inputs[0].kind != "text":
            tab.media[0].change(
                lambda path: self._suggest(spec, path),
                inputs=tab.media[0],
                outputs=[suggestion_text, accept, suggested],
                api_visibility="private",
            )
            accept.click(
                lambda chosen: self._accept(tab, chosen),
                inputs=suggested,
                outputs=[*tab.widgets, suggestion_text, accept],
                api_visibility="private",
            )
        if presets is not None:
            presets.change(
                lambda chosen: self._preset_values(tab, chosen),
                inputs=presets,
                outputs=tab.widgets,
                api_visibility="private",
            )
        submit.click(
            running.runner(self, tab),
            inputs=tab.fields,
            outputs=[status, notes, job_id, *outputs, bar, shown],
            api_name=f"run_{slug(name)}",
            concurrency_limit=None,
        )
        # a refusal or a failure is about the inputs it was given: changing one clears it
        for box in tab.fields:
            box.change(
                running.clear_refusal,
                inputs=shown,
                outputs=[status, notes, bar, shown],
                api_visibility="private",
                show_progress="hidden",
            )
        cancel.click(self._cancel, inputs=job_id, outputs=notes, api_name=f"cancel_{slug(name)}")
        return tab

    def backend_picker(self, task: str) -> Any:
        rows = describe_backends(self.service.settings, task)
        usable = [r for r in rows if r["available"]]
        default = next(
            (r["backend"] for r in usable if r["default"]), usable[0]["backend"] if usable else None
        )
        missing = [r for r in rows if not r["available"]]
        _ = self.t
        info = _("Backends that can run here.")
        if missing:
            names = ", ".join(r["backend"] for r in missing)
            info += _(
                " Not here: {names} (`genserve backends` says why and how to install them).", names=names
            )
        return gr.Dropdown(
            choices=[(f"{r['backend']}: {_(r['description'])}", r["backend"]) for r in usable],
            value=default,
            label=_("Backend"),
            info=info,
            elem_id=f"{task}-backend",
        )

    # --- handlers ------------------------------------------------------------------------------

    def _suggest(self, spec: TaskSpec, path: str | None) -> tuple[Any, Any, dict[str, Any]]:
        found = None
        if spec.suggest is not None and path:
            try:
                found = spec.suggest(Path(path))
            except Exception:  # a task's suggestion is a courtesy: its failure must not break the page
                log.exception("the %s task's upload suggestion failed", spec.name)
        if found is None:
            return gr.Markdown(visible=False), gr.Button(visible=False), {}
        return (
            gr.Markdown(render.suggestion_markdown(found, self.t), visible=True),
            gr.Button(visible=True),
            found.params,
        )

    def _accept(self, tab: TaskTab, chosen: dict[str, Any]) -> list[Any]:
        values = [gr.skip() if spec.name not in chosen else chosen[spec.name] for spec in tab.specs]
        return [*values, gr.Markdown(visible=False), gr.Button(visible=False)]

    def _preset_values(self, tab: TaskTab, chosen: str) -> list[Any]:
        values = preset(tab.spec.name, chosen)
        return [values[s.name] if s.name in values else gr.skip() for s in tab.specs]

    def _cancel(self, job_id: str, request: gr.Request) -> str:
        return running.cancel(self, job_id, request)

    # the handlers of the Run button live in ``running``; kept here for callers of the page
    _clear_refusal = staticmethod(running.clear_refusal)
