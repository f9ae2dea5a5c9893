"""The UI's pages: one tab per task and a history tab, all built from the task registry.

Each task tab is generated: its media inputs from the TaskSpec, its parameter widgets from the
Params model (``forms``), presets (``presets``), the upload suggestion (``suggest``) and a picker
of the backends that can run here. Submitting goes through :class:`genserve.service.Service`, the
same queue the REST API feeds; the tab then follows the job's record until it finishes.
"""

from __future__ import annotations

import html
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from genserve.api.access import Access
from genserve.api.views import job_view
from genserve.backends.registry import describe_backends
from genserve.caller import Caller
from genserve.errors import GenserveError, InvalidInput
from genserve.service import Service, Submission, Upload
from genserve.tasks import TASKS, TaskSpec
from genserve.webui import render
from genserve.webui.document_view import document_markdown
from genserve.webui.forms import WidgetSpec, form_specs, make_widget, params_from_values
from genserve.webui.i18n import DEFAULT, LANGUAGES, N_, Translator
from genserve.webui.presets import PRESET_NAMES, preset
from genserve.webui.suggest import suggest_for_file

POLL_S = 0.25  # how often a running job's record is read for the progress bar
VIDEO_TASKS = ("image-to-video", "talking-head")


@dataclass
class TaskTab:
    spec: TaskSpec
    specs: list[WidgetSpec]
    media: list[Any] = field(default_factory=list)
    more: dict[str, Any] = field(default_factory=dict)  # a batch input's further files, by input name
    widgets: list[Any] = field(default_factory=list)
    backend: Any = None

    @property
    def fields(self) -> list[Any]:
        """Everything "run again" fills (and a run takes): the media inputs, the further files of
        batch inputs, the backend and the parameters."""
        return [*self.media, *self.more.values(), self.backend, *self.widgets]


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
        _ = self.t
        name = spec.name
        tab = TaskTab(spec=spec, specs=form_specs(spec.params_model))
        gr.Markdown(_(spec.description))
        with gr.Row():
            with gr.Column(scale=1):
                for media in spec.inputs:
                    label = _(
                        "{name}: {description}",
                        name=_(media.name.capitalize()),
                        description=_(media.description),
                    )
                    box: Any
                    if media.kind == "audio":
                        box = gr.Audio(type="filepath", label=label, elem_id=f"{name}-{media.name}")
                    else:
                        box = gr.Image(type="filepath", label=label, elem_id=f"{name}-{media.name}")
                    tab.media.append(box)
                    if media.multiple:
                        tab.more[media.name] = gr.File(
                            label=_(
                                "More {kind}s: read in the same job, after the one above", kind=_(media.kind)
                            ),
                            file_count="multiple",
                            file_types=[media.kind],
                            elem_id=f"{name}-{media.name}-more",
                        )
                suggestion_text = gr.Markdown(visible=False, elem_id=f"{name}-suggestion")
                accept = gr.Button(
                    _("Use this suggestion"), visible=False, elem_id=f"{name}-accept", size="sm"
                )
                suggested = gr.State({})
                presets = gr.Radio(
                    [(_(preset_name), preset_name) for preset_name in PRESET_NAMES],
                    value="Standard",
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
                outputs: list[Any]
                if name in VIDEO_TASKS:
                    outputs = [gr.Video(label=_("Result"), autoplay=True, elem_id=f"{name}-video")]
                else:
                    outputs = [
                        gr.Textbox(
                            label=_("Text and labels (box numbers as in the JSON)"),
                            lines=4,
                            interactive=False,
                            elem_id=f"{name}-text",
                        ),
                        gr.Gallery(
                            label=_("Text found (numbered boxes), one picture per image"),
                            format="png",
                            columns=2,
                            object_fit="contain",  # a page or a banner shown whole, not cropped
                            elem_id=f"{name}-boxes",
                        ),
                        # the page as a document: its type, fields and items (document_view.py)
                        gr.Markdown(elem_id=f"{name}-document"),
                        gr.JSON(label=_("Result (JSON)"), elem_id=f"{name}-json"),
                    ]

        # the suggestion: shown after an upload, applied only when the user accepts it
        if spec.inputs and spec.inputs[0].kind == "image":
            tab.media[0].change(
                lambda path: self._suggest(name, path),
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
        presets.change(
            lambda chosen: self._preset_values(tab, chosen),
            inputs=presets,
            outputs=tab.widgets,
            api_visibility="private",
        )
        submit.click(
            self._runner(tab),
            inputs=tab.fields,
            outputs=[status, notes, job_id, *outputs, bar, shown],
            api_name=f"run_{slug(name)}",
            concurrency_limit=None,
        )
        # a refusal or a failure is about the inputs it was given: changing one clears it
        for box in tab.fields:
            box.change(
                self._clear_refusal,
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

    def _suggest(self, task: str, path: str | None) -> tuple[Any, Any, dict[str, Any]]:
        found = suggest_for_file(task, path)
        if found is None:
            return gr.Markdown(visible=False), gr.Button(visible=False), {}
        return gr.Markdown(found.describe(self.t), visible=True), gr.Button(visible=True), found.params

    def _accept(self, tab: TaskTab, chosen: dict[str, Any]) -> list[Any]:
        values = [gr.skip() if spec.name not in chosen else chosen[spec.name] for spec in tab.specs]
        return [*values, gr.Markdown(visible=False), gr.Button(visible=False)]

    def _preset_values(self, tab: TaskTab, chosen: str) -> list[Any]:
        values = preset(tab.spec.name, chosen)
        return [values[s.name] if s.name in values else gr.skip() for s in tab.specs]

    def _runner(self, tab: TaskTab) -> Any:
        spec = tab.spec
        n_media, n_more = len(spec.inputs), len(tab.more)

        def run(request: gr.Request, *values: Any) -> Iterator[list[Any]]:
            media = values[:n_media]
            more = dict(zip(tab.more, values[n_media : n_media + n_more], strict=True))
            backend, widget_values = values[n_media + n_more], values[n_media + n_more + 1 :]
            try:
                caller = self.caller(request)
                sub = self.submission(tab, media, backend, widget_values, caller.owner, more)
                record = self.service.submit(sub)
            except GenserveError as exc:
                refused = render.status_line({"id": "-", "status": "failed"}, self.t)
                notes = render.error_markdown(exc, self.t)
                yield [refused, notes, "", *self.empty(tab), "", "refused"]
                return
            yield from self.follow(tab, record.id, caller)

        return run

    def submission(
        self,
        tab: TaskTab,
        media: Any,
        backend: str | None,
        values: Any,
        owner: str | None,
        more: dict[str, Any] | None = None,
    ) -> Submission:
        """The job the form describes; a batch input's further files follow its first, in order."""
        files: dict[str, list[Upload]] = {}
        for item, path in zip(tab.spec.inputs, media, strict=True):
            paths = [p for p in [path, *((more or {}).get(item.name) or [])] if p]
            if not paths:
                if item.required:
                    raise InvalidInput(
                        "is required",
                        argument=item.name,
                        fix=f"upload {item.description[0].lower() + item.description[1:]} "
                        f"in the {item.name.capitalize()} box",
                    )
                continue
            files[item.name] = [copy_upload(Path(p)) for p in paths]
        return Submission(
            task=tab.spec.name,
            params=params_from_values(tab.specs, list(values)),
            files=files,
            backend=backend or None,
            owner=owner,
        )

    def follow(self, tab: TaskTab, job_id: str, caller: Caller) -> Iterator[list[Any]]:
        """Yield the job's state each time it changes, until it finishes (the service's watch, bounded
        by the job's own time limit); the finished job with its outputs."""
        for state in self.service.watch(job_id, caller, poll_s=POLL_S):
            view = job_view(state)
            done = state.record.status.is_terminal()
            outputs = self.result_values(tab, view, caller) if done else self.empty(tab)
            yield [*self.state(view), *outputs, render.progress_html(view), view["status"]]

    def state(self, view: dict[str, Any]) -> list[Any]:
        """The status line, the notes and the job id of ``view``."""
        return [render.status_line(view, self.t), render.notes_markdown(view, self.t), view["id"]]

    @staticmethod
    def empty(tab: TaskTab) -> list[Any]:
        return [None] * (1 if tab.spec.name in VIDEO_TASKS else 4)

    @staticmethod
    def _clear_refusal(shown: str) -> list[Any]:
        if shown in ("refused", "failed"):
            return ["", "", "", ""]
        return [gr.skip()] * 4

    def result_values(self, tab: TaskTab, view: dict[str, Any], caller: Caller) -> list[Any]:
        if tab.spec.name in VIDEO_TASKS:
            video = (
                render.output_file(view, self.service, "video/", caller)
                if view["status"] == "succeeded"
                else None
            )
            return [str(video) if video else None]
        result = view.get("result")
        if view["status"] != "succeeded" or not result:
            return [None, None, None, result]
        return [
            render.recognized_text(result, self.t),
            self.boxes_gallery(view, caller),
            document_markdown(result, self.t),
            result,
        ]

    def boxes_gallery(self, view: dict[str, Any], caller: Caller) -> list[tuple[Any, str]] | None:
        """Each input image with its text blocks outlined, captioned with the uploaded file's name."""
        record = self.service.get(view["id"], caller)
        refs = record.request.get("inputs") or {}
        try:
            images = self.service.artifacts.input_paths(record.id, refs).get("image") or []
        except GenserveError:
            return None
        return [
            (render.draw_text_boxes(image, item.get("text_blocks") or []), str(item.get("image_path") or ""))
            for image, item in zip(images, render.result_items(view.get("result") or {}), strict=False)
        ] or None

    def _cancel(self, job_id: str, request: gr.Request) -> str:
        _ = self.t
        if not job_id:
            return _("Nothing to cancel: start a job first.")
        try:
            record = self.service.cancel(job_id, self.caller(request))
        except GenserveError as exc:
            return render.error_markdown(exc, self.t, N_("Not canceled"))
        if record.status == "canceled":
            return _("Canceled.")
        return _("Cancel requested: it stops at its next step.")


def copy_upload(path: Path) -> Upload:
    """A copy of a file gradio holds (the service moves what it is given; gradio keeps its own)."""
    with (
        tempfile.NamedTemporaryFile(delete=False, prefix="genserve-ui-", suffix=path.suffix) as out,
        path.open("rb") as src,
    ):
        shutil.copyfileobj(src, out, 1 << 20)
    return Upload(Path(out.name), path.name)
