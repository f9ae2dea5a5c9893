"""A task tab's input widgets, one per MediaInput of its spec, by kind: an image, audio or video
upload box, or a text box for a text input; an input that takes several files (``multiple``) gets
a box for its further files below the first. Also the conversions between what a widget holds and
the files a job takes (the submitted values, and a past job's inputs for "run again")."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from genserve.submission import Upload
from genserve.tasks import MediaInput
from genserve.webui.i18n import Translator

TEXT_NAME = "text.txt"  # the file a typed text input is sent as


def make_input(media: MediaInput, task: str, t: Translator) -> tuple[Any, Any | None]:
    """The widget of ``media`` in ``task``'s tab, and the box for its further files (or None)."""
    import gradio as gr

    label = t("{name}: {description}", name=t(media.name.capitalize()), description=t(media.description))
    elem_id = f"{task}-{media.name}"
    box: Any
    if media.kind == "audio":
        box = gr.Audio(type="filepath", label=label, elem_id=elem_id)
    elif media.kind == "video":
        box = gr.Video(sources=["upload"], label=label, elem_id=elem_id)
    elif media.kind == "text":
        box = gr.Textbox(lines=6, label=label, elem_id=elem_id)
    else:
        box = gr.Image(type="filepath", label=label, elem_id=elem_id)
    more = None
    if media.multiple:
        more = gr.File(
            label=t("More {kind}s: read in the same job, after the one above", kind=t(media.kind)),
            file_count="multiple",
            file_types=[media.kind],
            elem_id=f"{elem_id}-more",
        )
    return box, more


def uploads(media: MediaInput, first: Any, more: list[Any] | None) -> list[Upload]:
    """The files a job takes for ``media``: the widget's value (a file, or typed text) then the
    further files, each a copy (the service moves what it is given; gradio keeps its own)."""
    found: list[Upload] = []
    if media.kind == "text" and isinstance(first, str) and first.strip():
        found.append(text_upload(first))
    elif first and media.kind != "text":
        found.append(copy_upload(Path(str(first))))
    found.extend(copy_upload(Path(str(p))) for p in more or [] if p)
    return found


def widget_value(media: MediaInput, path: Path | None) -> Any:
    """What ``media``'s widget shows for a stored input file (a text input: its text)."""
    if path is None:
        return None
    if media.kind == "text":
        return path.read_text(encoding="utf-8", errors="replace")
    return str(path)


def copy_upload(path: Path) -> Upload:
    """A copy of a file gradio holds, under its name."""
    with (
        tempfile.NamedTemporaryFile(delete=False, prefix="genserve-ui-", suffix=path.suffix) as out,
        path.open("rb") as src,
    ):
        shutil.copyfileobj(src, out, 1 << 20)
    return Upload(Path(out.name), path.name)


def text_upload(text: str) -> Upload:
    """Typed text as the UTF-8 file a text input takes."""
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", delete=False, prefix="genserve-ui-", suffix=".txt"
    ) as out:
        out.write(text)
    return Upload(Path(out.name), TEXT_NAME)
