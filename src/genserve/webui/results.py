"""What a job's result is shown in, chosen by its task's spec (no task is named here).

A task shows its result in *slots*: its output kind's player (``spec.output``: a video, an image,
audio, or JSON), or for a task whose ``view`` is ``"document"`` the recognized text, the inputs with
their numbered text boxes, the document read from them and the JSON. The task tab and the history
tab make their components and fill them from the same job view the REST API returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from genserve.errors import GenserveError
from genserve.tasks import TaskSpec
from genserve.webui import render
from genserve.webui.document_view import document_markdown
from genserve.webui.i18n import N_, Translator

if TYPE_CHECKING:
    from genserve.caller import Caller
    from genserve.service import Service

MEDIA_SLOTS = ("video", "image", "audio")  # an output file played in its own kind of player
DOCUMENT_SLOTS = ("text", "boxes", "document", "json")
HISTORY_SLOTS = ("video", "text", "boxes", "image", "audio", "json")  # in the order job_detail returns


def slots(spec: TaskSpec | None) -> tuple[str, ...]:
    """Where a finished job of ``spec`` is shown in its task tab, in order."""
    if spec is None:
        return ()
    if spec.view == "document":
        return DOCUMENT_SLOTS
    return (spec.output,)


def elem_id(spec: TaskSpec, slot: str) -> str:
    """The page id of ``slot`` in ``spec``'s tab: ``<task>-<slot>`` (``image-to-video-video``,
    ``recognize-json``), or ``<task>-result-<slot>`` where an input has the slot's name (the input
    box is ``<task>-<input>``: an image task that makes an image has ``<task>-result-image``)."""
    taken = spec.input(slot) is not None
    return f"{spec.name}-result-{slot}" if taken else f"{spec.name}-{slot}"


def make_slot(slot: str, elem_id: str, t: Translator, history: bool = False) -> Any:
    """The gradio component for ``slot`` (created in the current Blocks context); in the history
    tab (``history``) a player is hidden until a job of its kind is shown."""
    import gradio as gr

    hidden: dict[str, Any] = {"visible": slot == "video"} if history else {}
    if slot == "video":
        return gr.Video(label=t("Result"), autoplay=not history, elem_id=elem_id, **hidden)
    if slot == "image":
        return gr.Image(label=t("Result"), type="filepath", interactive=False, elem_id=elem_id, **hidden)
    if slot == "audio":
        return gr.Audio(label=t("Result"), type="filepath", interactive=False, elem_id=elem_id, **hidden)
    if slot == "json":
        return gr.JSON(label=t("Result (JSON)"), elem_id=elem_id, **hidden)
    if slot == "text":
        return gr.Textbox(
            label=t("Text and labels (box numbers as in the JSON)"),
            lines=4,
            interactive=False,
            elem_id=elem_id,
            **hidden,
        )
    if slot == "boxes":
        label = (
            N_("Text found (numbered boxes)")
            if history
            else N_("Text found (numbered boxes), one picture per image")
        )
        return gr.Gallery(
            label=t(label),
            format="png",
            columns=2,
            object_fit="contain",  # a page or a banner shown whole, not cropped
            elem_id=elem_id,
            **hidden,
        )
    if slot == "document":  # the page as a document: its type, fields and items (document_view.py)
        return gr.Markdown(elem_id=elem_id, **hidden)
    raise ValueError(f"no result slot {slot!r}")


def slot_value(
    slot: str, spec: TaskSpec, view: dict[str, Any], service: Service, caller: Caller, t: Translator
) -> Any:
    """What ``slot`` shows of the job ``view`` (nothing until it succeeded; the JSON as it is)."""
    result = view.get("result")
    if slot == "json":
        return result
    if view["status"] != "succeeded":
        return None
    if slot in MEDIA_SLOTS:
        path = render.output_file(view, service, f"{slot}/", caller)
        return str(path) if path else None
    if not result:
        return None
    if slot == "text":
        return render.recognized_text(result, t)
    if slot == "boxes":
        return boxes_gallery(spec, view, service, caller)
    if slot == "document":
        return document_markdown(result, t)
    raise ValueError(f"no result slot {slot!r}")


def boxes_gallery(
    spec: TaskSpec, view: dict[str, Any], service: Service, caller: Caller
) -> list[tuple[Any, str]] | None:
    """Each input image with its text blocks outlined, captioned with the uploaded file's name."""
    image_input = next((m.name for m in spec.inputs if m.kind == "image"), None)
    if image_input is None:
        return None
    record = service.get(view["id"], caller)
    refs = record.request.get("inputs") or {}
    try:
        images: list[Path] = service.artifacts.input_paths(record.id, refs).get(image_input) or []
    except GenserveError:
        return None
    return [
        (render.draw_text_boxes(image, item.get("text_blocks") or []), str(item.get("image_path") or ""))
        for image, item in zip(images, render.result_items(view.get("result") or {}), strict=False)
    ] or None
