"""The history tab: recent jobs with thumbnails, status and parameters; a job's outputs to watch
and download; "run again" fills the job's task tab with its inputs and parameters."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from genserve.api.views import job_view
from genserve.errors import GenserveError
from genserve.tasks import TASKS
from genserve.webui import render
from genserve.webui.forms import values_from_params
from genserve.webui.i18n import N_

if TYPE_CHECKING:
    from genserve.jobs.record import JobRecord
    from genserve.webui.pages import Pages

HISTORY_LIMIT = 30
AGAIN_KEEP_S = 600.0  # the copies "run again" hands to the page are kept this long (gradio caches its own)
THUMB_PX = 160
PARAM_CHARS = 24  # a prompt is cut in the table; the job's detail shows it whole
CELL_CHARS = 90
COLUMNS = [N_("job"), N_("task"), N_("backend"), N_("status"), N_("created"), N_("parameters"), N_("batch")]


class History:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.service = pages.service

    def build(self, tabs: Any, history_tab: Any) -> None:
        _ = self.pages.t
        with gr.Row():
            refresh = gr.Button(_("Refresh"), elem_id="history-refresh", size="sm")
            batch = gr.Textbox(
                label=_("Batch"),
                placeholder=_("a batch id (genserve batch), e.g. release; empty: every recent job"),
                elem_id="history-batch",
                scale=4,
            )
            show_batch = gr.Button(_("Show batch"), elem_id="history-show-batch", size="sm")
        gallery = gr.Gallery(
            label=_("Recent jobs (input thumbnails; click one, or a row, for details)"),
            columns=6,
            height=220,
            allow_preview=False,
            fit_columns=False,
            object_fit="contain",
            elem_id="history-gallery",
        )
        table = gr.Dataframe(
            headers=[_(c) for c in COLUMNS], interactive=False, wrap=True, elem_id="history-table"
        )
        ids = gr.State([])
        with gr.Row():
            with gr.Column():
                job = gr.Dropdown(label=_("Job"), choices=[], allow_custom_value=True, elem_id="history-job")
                summary = gr.Markdown(elem_id="history-summary")
                params = gr.JSON(label=_("Parameters"), elem_id="history-params")
                again = gr.Button(_("Run again with these parameters"), elem_id="history-again")
            with gr.Column():
                video = gr.Video(label=_("Result"), elem_id="history-video")
                text = gr.Textbox(
                    label=_("Text and labels (box numbers as in the JSON)"),
                    lines=4,
                    interactive=False,
                    visible=False,
                    elem_id="history-text",
                )
                boxes = gr.Gallery(
                    label=_("Text found (numbered boxes)"),
                    format="png",
                    columns=2,
                    object_fit="contain",
                    visible=False,
                    elem_id="history-boxes",
                )
                files = gr.File(label=_("Download"), file_count="multiple", elem_id="history-files")

        # an API call gets the thumbnails and the table; the job picker follows on the page alone
        listing = [gallery, table, ids]

        def picker(listed: Any) -> None:
            listed.then(self.picker, inputs=ids, outputs=job, api_visibility="private")

        picker(refresh.click(self.listing, outputs=listing, api_name="history"))
        picker(show_batch.click(self.batch_listing, inputs=batch, outputs=listing, api_name="history_batch"))
        picker(batch.submit(self.batch_listing, inputs=batch, outputs=listing, api_visibility="private"))
        picker(history_tab.select(self.listing, outputs=listing, api_visibility="private"))
        gallery.select(self.pick, inputs=ids, outputs=job, api_visibility="private")
        table.select(self.pick, inputs=ids, outputs=job, api_visibility="private")
        job.change(
            self.detail,
            inputs=job,
            outputs=[summary, params, video, files, text, boxes],
            api_name="job_detail",
        ).then(self.shown, inputs=job, outputs=[video, text, boxes], api_visibility="private")
        fields = [f for tab in self.pages.tabs.values() for f in tab.fields]
        again.click(self.again, inputs=job, outputs=[tabs, summary, *fields], api_visibility="private")

    # --- handlers ------------------------------------------------------------------------------

    def records(self, request: gr.Request, batch: str | None = None) -> list[JobRecord]:
        # with keys configured, each key sees its own jobs (an admin key: every job)
        records, _ = self.service.list_jobs(self.pages.caller(request), limit=HISTORY_LIMIT, batch=batch)
        return records

    def listing(self, request: gr.Request) -> tuple[Any, Any, list[str]]:
        return self.show(self.records(request))

    def batch_listing(self, batch: str | None, request: gr.Request) -> tuple[Any, Any, list[str]]:
        """The jobs of one batch (`genserve batch`); an empty box lists every recent job."""
        try:
            return self.show(self.records(request, (batch or "").strip() or None))
        except GenserveError as exc:
            raise gr.Error(exc.message) from None

    def show(self, records: list[JobRecord]) -> tuple[Any, Any, list[str]]:
        status, task = self.status_word, self.task_word
        thumbs = [(self.thumbnail(r), f"{status(r.status)} · {task(r.task)} · {r.id[:8]}") for r in records]
        rows = [
            [
                r.id,
                task(r.task),
                r.backend,
                status(r.status),
                datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                short_params(r.request.get("params") or {}),
                "{id}/{row}".format(**r.request["batch"]) if r.request.get("batch") else "",
            ]
            for r in records
        ]
        ids = [r.id for r in records]
        return thumbs, rows or [[""] * len(COLUMNS)], ids

    @staticmethod
    def picker(ids: list[str]) -> Any:
        return gr.Dropdown(choices=ids)

    def status_word(self, status: Any) -> str:
        """A job's status in the table: the API's word in English (scripts read it), else translated."""
        t = self.pages.t
        return str(status) if t.english else t(render.STATUS_WORDS.get(str(status), str(status)))

    def task_word(self, task: str) -> str:
        """A job's task in the table: its name in English (as the API has it), else its title."""
        t = self.pages.t
        return task if t.english or task not in TASKS else t(TASKS[task].title)

    def thumbnail(self, record: JobRecord) -> Any:
        from PIL import Image, ImageOps

        path = self.input_files(record).get("image", [None])[0]
        try:
            if path is None:
                raise OSError("no image input")
            with Image.open(path) as src:
                image = ImageOps.exif_transpose(src).convert("RGB")
            image.thumbnail((THUMB_PX, THUMB_PX))
        except OSError:
            image = Image.new("RGB", (THUMB_PX, THUMB_PX), (200, 200, 200))
        return image

    def input_files(self, record: JobRecord) -> dict[str, list[Path]]:
        try:
            return self.service.artifacts.input_paths(record.id, record.request.get("inputs") or {})
        except GenserveError:
            return {}

    def pick(self, ids: list[str], evt: gr.SelectData) -> Any:
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        return ids[index] if 0 <= index < len(ids) else gr.skip()

    def detail(self, job_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """The job's summary, parameters and outputs: its video, or for a recognize job its text and
        outlined images (``shown`` then shows only the players that fit the job)."""
        if not job_id:
            return "", None, None, None, "", None
        _ = self.pages.t
        try:
            caller = self.pages.caller(request)
            view = job_view(self.service.state(self.service.get(job_id, caller)))
        except GenserveError as exc:
            return render.error_markdown(exc, _, N_("Cannot show it")), None, None, None, "", None
        result = view.get("result") or {}
        shown = {"requested": view["params"], "effective": result.get("parameters") or {}}
        files = []
        for out in result.get("outputs") or []:
            try:
                files.append(str(self.service.artifact(job_id, out["name"], caller)[0]))
            except GenserveError:
                continue
        succeeded = view["status"] == "succeeded"
        summary = _(
            "**{task}** on `{backend}`: {status}",
            task=_(TASKS[view["task"]].title) if view["task"] in TASKS else view["task"],
            backend=view["backend"],
            status=_(render.STATUS_WORDS.get(view["status"], view["status"])),
        )
        notes = render.notes_markdown(view, _)
        summary += "\n\n" + notes if notes else ""
        if view["task"] == "recognize":
            text = render.recognized_text(result, _) if succeeded and result else ""
            gallery = self.pages.boxes_gallery(view, caller) if succeeded else None
            return summary, shown, None, files or None, text, gallery
        video = render.output_file(view, self.service, "video/", caller) if succeeded else None
        return summary, shown, str(video) if video else None, files or None, "", None

    def shown(self, job_id: str | None, request: gr.Request) -> list[Any]:
        """A recognize job shows its text and boxes, any other job its video player."""
        text = False
        if job_id:
            with contextlib.suppress(GenserveError):
                text = self.service.get(job_id, self.pages.caller(request)).task == "recognize"
        return [gr.Video(visible=not text), gr.Textbox(visible=text), gr.Gallery(visible=text)]

    def again(self, job_id: str | None, request: gr.Request) -> list[Any]:
        """Switch to the job's task tab with its inputs, backend and parameters filled in."""
        _ = self.pages.t
        skip_all = [gr.skip() for tab in self.pages.tabs.values() for _field in tab.fields]
        if not job_id:
            return [gr.skip(), _("Pick a job first."), *skip_all]
        try:
            record = self.service.get(job_id, self.pages.caller(request))
        except GenserveError as exc:
            return [gr.skip(), render.error_markdown(exc, _, N_("Cannot run it again")), *skip_all]
        filled = _("Filled the {task} tab from job `{job}`.", task=_(TASKS[record.task].title), job=job_id)
        out: list[Any] = [gr.Tabs(selected=record.task), filled]
        inputs = named_copies(self.input_files(record), record.request.get("input_names") or {})
        for task, tab in self.pages.tabs.items():
            if task != record.task:
                out.extend(gr.skip() for _field in tab.fields)
                continue
            out.extend(str(inputs[m.name][0]) if inputs.get(m.name) else None for m in TASKS[task].inputs)
            out.extend([str(p) for p in inputs.get(name, [])[1:]] or None for name in tab.more)
            out.append(record.backend)
            params = dict(record.request.get("params") or {})
            effective = (record.result or {}).get("parameters") or {}
            if "seed" in effective and params.get("seed") is None:
                params["seed"] = effective["seed"]  # the same seed: the same result again
            out.extend(values_from_params(tab.specs, params))
        return out


def short_params(params: dict[str, Any]) -> str:
    """A job's parameters for one table cell: each value cut at PARAM_CHARS, the cell at CELL_CHARS."""
    if not params:
        return "defaults"
    shown = ", ".join(f"{k}={_cut(str(v), PARAM_CHARS)}" for k, v in params.items())
    return _cut(shown, CELL_CHARS)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def named_copies(inputs: dict[str, list[Path]], names: dict[str, list[str]]) -> dict[str, list[Path]]:
    """Copies of a job's stored inputs under the names the client uploaded them with, so a job run
    again reports the same ``image_path``s (the store keeps them under its own names)."""
    root = Path(tempfile.gettempdir()) / "genserve-ui-again"
    root.mkdir(exist_ok=True)
    for old in root.iterdir():  # earlier copies: gradio copied what it needed long ago
        with contextlib.suppress(OSError):  # another request may be clearing it too
            if time.time() - old.stat().st_mtime > AGAIN_KEEP_S:
                shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=root))
    out: dict[str, list[Path]] = {}
    for key, paths in inputs.items():
        given = names.get(key) or []
        for i, path in enumerate(paths):
            name = Path(given[i]).name if i < len(given) and given[i] else path.name
            target = folder / key / str(i) / name
            target.parent.mkdir(parents=True)
            shutil.copyfile(path, target)
            out.setdefault(key, []).append(target)
    return out
