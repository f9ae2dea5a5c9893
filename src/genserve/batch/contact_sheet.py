"""index.html: the batch for review, one card per row in the manifest's order.

A video shows a strip of frames that opens it, an image output its picture that opens it; any other
row shows its first image input, with the text read from it and its labels (recognize); a failed
row shows its error. Thumbnails
go to ``_thumbs/`` (a row id never starts with '_'); every link is relative, so the folder can be
archived and opened anywhere.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

from genserve.batch.board import Board, RowState

log = logging.getLogger("genserve.batch")

THUMBS = "_thumbs"
STRIP_FRAMES = 4
IMAGE_THUMB_PX = 240
TEXT_LINES = 12
COLORS = {"succeeded": "#2e7d32", "failed": "#c62828", "canceled": "#8d6e63"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>genserve batch {batch}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }}
.cards {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1rem; }}
.card {{ border: 1px solid #ddd; border-radius: 6px; padding: .6rem; overflow: hidden; }}
.card h3 {{ margin: 0 0 .3rem; font-size: 1rem; word-break: break-all; }}
.status {{ color: #fff; border-radius: 3px; padding: 0 .35rem; font-size: .8rem; }}
.meta {{ color: #666; font-size: .8rem; margin-bottom: .4rem; word-break: break-all; }}
.card img {{ max-width: 100%; display: block; margin: .3rem 0; }}
.text {{ font-family: ui-monospace, monospace; font-size: .8rem; white-space: pre-wrap; background: #f6f6f6;
  padding: .3rem; margin: .3rem 0; }}
.error {{ color: #c62828; font-size: .85rem; }}
</style></head><body>
<h1>genserve batch <code>{batch}</code></h1>
<p>{counts} &middot; <a href="results.csv">results.csv</a> &middot; <a href="results.jsonl">results.jsonl</a>
&middot; <a href="junit.xml">junit.xml</a> &middot; <a href="summary.md">summary.md</a></p>
<div class="cards">
{cards}
</div></body></html>
"""


def write_index(board: Board, out_dir: Path) -> Path:
    thumbs = out_dir / THUMBS
    thumbs.mkdir(parents=True, exist_ok=True)
    cards = "\n".join(_card(state, out_dir, thumbs) for state in board.states)
    counts = " · ".join(f"{n} {s.replace('_', ' ')}" for s, n in board.counts().items())
    path = out_dir / "index.html"
    tmp = path.with_name("index.html.tmp")
    tmp.write_text(PAGE.format(batch=html.escape(board.batch_id), counts=html.escape(counts), cards=cards))
    tmp.replace(path)
    return path


def _card(state: RowState, out_dir: Path, thumbs: Path) -> str:
    row, result = state.row, state.result
    e = html.escape
    color = COLORS.get(state.status, "#757575")
    parts = [
        '<div class="card">',
        f'<h3>{e(row.id)} <span class="status" style="background:{color}">{e(state.status)}</span></h3>',
        f'<div class="meta">line {row.line} · {e(row.task)} · {e(result.get("backend") or row.backend or "")}'
        f" · job {e(state.job_id or '-')}"
        + (f" · {state.duration_sec:.2f} s" if state.duration_sec is not None else "")
        + "</div>",
    ]
    prompt = row.params.get("prompt")
    if prompt:
        parts.append(f'<div class="meta">prompt: {e(str(prompt))}</div>')
    video = next((o for o in state.outputs if str(o.get("media_type") or "").startswith("video/")), None)
    if video is not None:
        strip = _video_strip(out_dir / video["path"], thumbs / f"{row.id}.jpg")
        if strip:  # the strip opens the video
            img = f'<img src="{THUMBS}/{e(row.id)}.jpg" alt="frames of {e(row.id)}" loading="lazy">'
            parts.append(f'<a href="{e(video["path"])}" title="play {e(video["name"])}">{img}</a>')
    else:
        image = next((o for o in state.outputs if str(o.get("media_type") or "").startswith("image/")), None)
        if image is not None and _image_thumb(out_dir / image["path"], thumbs / f"{row.id}.jpg"):
            img = f'<img src="{THUMBS}/{e(row.id)}.jpg" alt="{e(image["name"])}" loading="lazy">'
            parts.append(f'<a href="{e(image["path"])}" title="open {e(image["name"])}">{img}</a>')
        else:
            shown = _input_image(row.task, row.inputs)
            if shown is not None and _image_thumb(shown, thumbs / f"{row.id}.jpg"):
                img = f'<img src="{THUMBS}/{e(row.id)}.jpg" alt="input of {e(row.id)}" loading="lazy">'
                parts.append(img)
    text = _recognized(result)
    if text:
        parts.append(f'<div class="text">{e(text)}</div>')
    labels = ", ".join(str(o.get("label")) for o in (result.get("objects") or [])[:5] if o.get("label"))
    if labels:
        parts.append(f'<div class="meta">labels: {e(labels)}</div>')
    if state.status in ("failed", "canceled") and (state.message or state.error):
        parts.append(f'<div class="error">{e(state.message or state.error or "")}</div>')
    links = " ".join(f'<a href="{e(o["path"])}">{e(o["name"])}</a>' for o in state.outputs)
    if links:
        parts.append(f'<div class="meta">{links}</div>')
    parts.append("</div>")
    return "\n".join(parts)


def _input_image(task: str, inputs: dict[str, list[Path]]) -> Path | None:
    """The row's first image input (by its task's inputs), for the card's picture."""
    from genserve.tasks import TASKS

    spec = TASKS.get(task)
    kinds = {m.name: m.kind for m in spec.inputs} if spec is not None else {}
    return next((paths[0] for name, paths in inputs.items() if kinds.get(name) == "image" and paths), None)


def _recognized(result: dict[str, Any]) -> str:
    """The text read from the row's image(s), one block per line (the first lines only)."""
    items = result.get("items") or [result]
    lines = [
        str(b.get("text", "")) for item in items for b in (item.get("text_blocks") or []) if b.get("text")
    ]
    if len(lines) > TEXT_LINES:
        lines = [*lines[:TEXT_LINES], f"... {len(lines) - TEXT_LINES} more lines"]
    return "\n".join(lines)


def _video_strip(video: Path, target: Path) -> bool:
    if not video.is_file():
        return False
    if target.is_file() and target.stat().st_mtime >= video.stat().st_mtime:
        return True
    try:
        from genserve.gates.report_html import contact_sheet

        contact_sheet(video, target, frames=STRIP_FRAMES)
        return True
    except Exception as exc:  # a thumbnail is a courtesy: the row is reported either way
        log.warning("no thumbnail for %s: %s", video, exc)
        return False


def _image_thumb(image: Path, target: Path) -> bool:
    if target.is_file() and target.stat().st_mtime >= image.stat().st_mtime:
        return True
    try:
        from PIL import Image, ImageOps

        with Image.open(image) as src:
            thumb = ImageOps.exif_transpose(src).convert("RGB")
        thumb.thumbnail((IMAGE_THUMB_PX, IMAGE_THUMB_PX))
        thumb.save(target, quality=85)
        return True
    except Exception as exc:
        log.warning("no thumbnail for %s: %s", image, exc)
        return False
