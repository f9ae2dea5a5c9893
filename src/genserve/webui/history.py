"""The history tab: recent jobs with thumbnails, status and parameters; a job's result shown as its
task's spec says (a video, image or audio player, or the document view) and its files to download;
"run again" fills the job's task tab with its inputs and parameters."""

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
from genserve.webui import render, results
from genserve.webui.forms import values_from_params
from genserve.webui.i18n import N_
from genserve.webui.media_inputs import widget_value
from genserve.webui.results import HISTORY_SLOTS

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
                # one player per kind of result; ``shown`` shows those of the job's task
                players = [
                    results.make_slot(slot, f"history-{slot}", _, history=True) for slot in HISTORY_SLOTS
                ]
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
        # job_detail returns the summary, the parameters, the video, the files, the text, the boxes,
        # then the image, the audio and the JSON (the first six as before image and audio results)
        video, text, boxes, *more = players
        job.change(
            self.detail,
            inputs=job,
            outputs=[summary, params, video, files, text, boxes, *more],
            api_name="job_detail",
        ).then(self.shown, inputs=job, outputs=players, api_visibility="private")
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

        spec = TASKS.get(record.task)
        first_image = next((m.name for m in spec.inputs if m.kind == "image"), None) if spec else None
        images = self.input_files(record).get(first_image or "") or []
        path = images[0] if images else None
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
        """The job's summary, parameters, files and result in the players of its task's slots
        (``results.slots``; ``shown`` then shows only those)."""
        values: dict[str, Any] = {slot: "" if slot == "text" else None for slot in HISTORY_SLOTS}
        if not job_id:
            return detail_values("", None, None, values)
        _ = self.pages.t
        try:
            caller = self.pages.caller(request)
            view = job_view(self.service.state(self.service.get(job_id, caller)))
        except GenserveError as exc:
            return detail_values(render.error_markdown(exc, _, N_("Cannot show it")), None, None, values)
        result = view.get("result") or {}
        shown = {"requested": view["params"], "effective": result.get("parameters") or {}}
        files = []
        for out in result.get("outputs") or []:
            try:
                files.append(str(self.service.artifact(job_id, out["name"], caller)[0]))
            except GenserveError:
                continue
        spec = TASKS.get(view["task"])
        summary = _(
            "**{task}** on `{backend}`: {status}",
            task=_(spec.title) if spec else view["task"],
            backend=view["backend"],
            status=_(render.STATUS_WORDS.get(view["status"], view["status"])),
        )
        notes = render.notes_markdown(view, _)
        summary += "\n\n" + notes if notes else ""
        for slot in results.slots(spec):
            if slot in values and spec is not None:
                values[slot] = results.slot_value(slot, spec, view, self.service, caller, _)
        return detail_values(summary, shown, files or None, values)

    def shown(self, job_id: str | None, request: gr.Request) -> list[Any]:
        """The players of the job's task's result (``results.slots``); a video player when none is known."""
        visible: tuple[str, ...] = ("video",)
        if job_id:
            with contextlib.suppress(GenserveError):
                task = self.service.get(job_id, self.pages.caller(request)).task
                visible = results.slots(TASKS.get(task))
        return [gr.update(visible=slot in visible) for slot in HISTORY_SLOTS]

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
        if record.task not in self.pages.tabs:
            return [gr.skip(), _("The {task} task is not served here.", task=record.task), *skip_all]
        filled = _("Filled the {task} tab from job `{job}`.", task=_(TASKS[record.task].title), job=job_id)
        out: list[Any] = [gr.Tabs(selected=record.task), filled]
        inputs = named_copies(self.input_files(record), record.request.get("input_names") or {})
        for task, tab in self.pages.tabs.items():
            if task != record.task:
                out.extend(gr.skip() for _field in tab.fields)
                continue
            out.extend(widget_value(m, next(iter(inputs.get(m.name) or []), None)) for m in tab.spec.inputs)
            out.extend([str(p) for p in inputs.get(name, [])[1:]] or None for name in tab.more)
            out.append(record.backend)
            params = dict(record.request.get("params") or {})
            effective = (record.result or {}).get("parameters") or {}
            if "seed" in effective and params.get("seed") is None:
                params["seed"] = effective["seed"]  # the same seed: the same result again
            out.extend(values_from_params(tab.specs, params))
        return out


def detail_values(summary: str, shown: Any, files: Any, values: dict[str, Any]) -> tuple[Any, ...]:
    """job_detail's answer: the summary, the parameters, the video, the files, the text, the boxes,
    the image, the audio and the JSON (in this order: the first six came before the others)."""
    video, text, boxes, image, audio, result_json = (values[slot] for slot in HISTORY_SLOTS)
    return summary, shown, video, files, text or "", boxes, image, audio, result_json


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
