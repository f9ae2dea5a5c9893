"""Running a task tab's form: the job it describes goes through :class:`genserve.service.Service`
(the queue the REST API feeds); the tab then follows the job's record until it finishes and shows
its result in the task's slots (``results``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr

from genserve.api.views import job_view
from genserve.errors import GenserveError, InvalidInput
from genserve.submission import Submission, Upload
from genserve.tasks import TaskSpec
from genserve.webui import render, results
from genserve.webui.forms import WidgetSpec, params_from_values
from genserve.webui.i18n import N_
from genserve.webui.media_inputs import uploads

if TYPE_CHECKING:
    from genserve.caller import Caller
    from genserve.webui.pages import Pages

POLL_S = 0.25  # how often a running job's record is read for the progress bar (without events)


@dataclass
class TaskTab:
    spec: TaskSpec
    specs: list[WidgetSpec]
    media: list[Any] = field(default_factory=list)
    more: dict[str, Any] = field(default_factory=dict)  # a batch input's further files, by input name
    widgets: list[Any] = field(default_factory=list)
    backend: Any = None
    slots: tuple[str, ...] = ()  # where its result is shown (results.slots)

    @property
    def fields(self) -> list[Any]:
        """Everything "run again" fills (and a run takes): the media inputs, the further files of
        batch inputs, the backend and the parameters."""
        return [*self.media, *self.more.values(), self.backend, *self.widgets]


def runner(pages: Pages, tab: TaskTab) -> Any:
    """The handler of ``tab``'s Run button: the values of ``tab.fields`` in, then the status line,
    the notes, the job id, the result slots, the progress bar and the status shown, as they change."""
    n_media, n_more = len(tab.spec.inputs), len(tab.more)

    def run(request: gr.Request, *values: Any) -> Iterator[list[Any]]:
        media = values[:n_media]
        more = dict(zip(tab.more, values[n_media : n_media + n_more], strict=True))
        backend, widget_values = values[n_media + n_more], values[n_media + n_more + 1 :]
        try:
            caller = pages.caller(request)
            sub = submission(tab, media, backend, widget_values, caller.owner, more)
            record = pages.service.submit(sub)
        except GenserveError as exc:
            refused = render.status_line({"id": "-", "status": "failed"}, pages.t)
            notes = render.error_markdown(exc, pages.t)
            yield [refused, notes, "", *empty(tab), "", "refused"]
            return
        yield from follow(pages, tab, record.id, caller)

    return run


def submission(
    tab: TaskTab,
    media: Any,
    backend: str | None,
    values: Any,
    owner: str | None,
    more: dict[str, Any] | None = None,
) -> Submission:
    """The job the form describes; a batch input's further files follow its first, in order."""
    files: dict[str, list[Upload]] = {}
    for item, value in zip(tab.spec.inputs, media, strict=True):
        found = uploads(item, value, (more or {}).get(item.name))
        if not found:
            if item.required:
                what = item.description or item.name
                raise InvalidInput(
                    "is required",
                    argument=item.name,
                    fix=f"upload {what[0].lower() + what[1:]} in the {item.name.capitalize()} box",
                )
            continue
        files[item.name] = found
    return Submission(
        task=tab.spec.name,
        params=params_from_values(tab.specs, list(values)),
        files=files,
        backend=backend or None,
        owner=owner,
    )


def follow(pages: Pages, tab: TaskTab, job_id: str, caller: Caller) -> Iterator[list[Any]]:
    """Yield the job's state each time it changes, until it finishes (the service's watch, bounded
    by the job's own time limit); the finished job with its result in the tab's slots."""
    service = pages.service
    for now in service.watch(job_id, caller, poll_s=POLL_S):
        view = job_view(now)
        if now.record.status.is_terminal():
            shown = [results.slot_value(s, tab.spec, view, service, caller, pages.t) for s in tab.slots]
        else:
            shown = empty(tab)
        yield [*state(pages, view), *shown, render.progress_html(view), view["status"]]


def state(pages: Pages, view: dict[str, Any]) -> list[Any]:
    """The status line, the notes and the job id of ``view``."""
    return [render.status_line(view, pages.t), render.notes_markdown(view, pages.t), view["id"]]


def empty(tab: TaskTab) -> list[Any]:
    return [None] * len(tab.slots)


def clear_refusal(shown: str) -> list[Any]:
    """A refusal or a failure is about the inputs it was given: a changed input clears it."""
    if shown in ("refused", "failed"):
        return ["", "", "", ""]
    return [gr.skip()] * 4


def cancel(pages: Pages, job_id: str, request: gr.Request) -> str:
    _ = pages.t
    if not job_id:
        return _("Nothing to cancel: start a job first.")
    try:
        record = pages.service.cancel(job_id, pages.caller(request))
    except GenserveError as exc:
        return render.error_markdown(exc, pages.t, N_("Not canceled"))
    if record.status == "canceled":
        return _("Canceled.")
    return _("Cancel requested: it stops at its next step.")
