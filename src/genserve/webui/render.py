"""What the page shows of a job: its state with a progress bar, and its result in plain words.

Everything here reads the job view the API also returns (``Service.view``), so the page and the
API never disagree about a job.
"""

from __future__ import annotations

import html
import time
from datetime import datetime
from pathlib import Path
from typing import Any

STATUS_WORDS = {
    "queued": "Waiting in the queue",
    "running": "Running",
    "succeeded": "Done",
    "failed": "Failed",
    "canceled": "Canceled",
}


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 90 else f"{value / 60:.1f} min"


def running_eta(view: dict[str, Any], now: float | None = None) -> float | None:
    """Seconds left for a running job, from its pace so far (None before the first step)."""
    progress = view.get("progress") or {}
    step, total = progress.get("step") or 0, progress.get("total") or 0
    if not view.get("started_at") or step <= 0 or total <= step:
        return None
    started = datetime.fromisoformat(view["started_at"]).timestamp()
    elapsed = (now or time.time()) - started
    return max(0.0, elapsed * (total - step) / step)


def status_line(view: dict[str, Any]) -> str:
    """The job's state in words: queue position and ETA while queued, steps and time left while
    running, the outcome when finished (plain text: a gradio_client caller reads it as it is)."""
    status = view["status"]
    words = STATUS_WORDS.get(status, status)
    detail = ""
    if status == "queued":
        position = view.get("queue_position")
        if position is not None:
            detail = f"position {position + 1} in the queue" if position else "next in the queue"
        if view.get("eta_s") is not None:
            detail += f", starts in about {_seconds(view['eta_s'])}"
    elif status == "running":
        progress = view.get("progress") or {}
        step, total = progress.get("step") or 0, progress.get("total") or 0
        if total:
            detail = f"step {step} of {total}"
            eta = running_eta(view)
            if eta is not None:
                detail += f", about {_seconds(eta)} left"
        else:
            detail = "loading the model"
    elif status == "succeeded":
        result = view.get("result") or {}
        if result.get("duration_sec") is not None:
            detail = f"in {result['duration_sec']:.1f} s"
    return f"{words}: {detail}" if detail and status != "succeeded" else f"{words} {detail}".strip()


def progress_html(view: dict[str, Any]) -> str:
    """The job's progress bar; the <progress> element carries the step count and the status."""
    status = view["status"]
    step, total = 0, 1
    if status == "running":
        progress = view.get("progress") or {}
        step, total = progress.get("step") or 0, progress.get("total") or 1
    elif status == "succeeded":
        step = total = 1
    return (
        f'<progress id="job-progress" value="{step}" max="{total}" data-job="{html.escape(view["id"])}" '
        f'data-status="{html.escape(status)}" style="width:100%"></progress>'
    )


def notes_markdown(view: dict[str, Any]) -> str:
    """Warnings, degradation and errors in plain words (empty when there is nothing to say)."""
    lines: list[str] = []
    result = view.get("result") or {}
    if view["status"] == "failed":
        message = view.get("message") or result.get("message") or "the job failed"
        lines.append(f"**Error** ({view.get('error') or 'failed'}): {message}")
    if view["status"] == "canceled":
        lines.append("The job was canceled.")
    degraded = result.get("degraded") or []
    if degraded:
        lines.append(
            "**Ran out of memory**, so it was retried with lighter settings: "
            + "; ".join(degraded)
            + ". The result is smaller or shorter than asked."
        )
    warnings = list(dict.fromkeys([*(view.get("warnings") or []), *(result.get("warnings") or [])]))
    lines.extend(f"**Note:** {w}" for w in warnings)
    return "\n\n".join(lines)


def error_markdown(message: str, what: str = "Not submitted") -> str:
    """A refused action (the teaching message of the exception), shown inline."""
    return f"**{what}:** {message}"


def output_file(view: dict[str, Any], service: Any, media_prefix: str, caller: Any) -> Path | None:
    """The local path of the first output whose media type starts with ``media_prefix``."""
    for out in (view.get("result") or {}).get("outputs") or []:
        if str(out.get("media_type", "")).startswith(media_prefix):
            path, _ = service.artifact(view["id"], out["name"], caller)
            return Path(path)
    return None


def result_items(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A recognize result's images: its ``items`` for a batch, else the result itself."""
    return list(result.get("items") or [result])


def recognized_text(result: dict[str, Any]) -> str:
    """A recognize result as text: per image its name, each text block with the number drawn on
    its box (the block's index in the JSON), then its labels."""
    items = result_items(result)
    parts = []
    for item in items:
        lines = [str(item.get("image_path") or "")] if len(items) > 1 or item.get("image_path") else []
        blocks = item.get("text_blocks") or []
        lines.extend(f"{i}  {block.get('text', '')}" for i, block in enumerate(blocks))
        if not blocks:
            lines.append("(no text found)")
        objects = item.get("objects") or []
        if objects:
            names = ", ".join(
                f"{o.get('label_zh') or o.get('label')} ({float(o.get('score', 0)):.0%})" for o in objects
            )
            lines.append(f"Labels: {names}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def label_size(width: int, height: int) -> int:
    """The font size of the box numbers: readable when a gallery shows the image ~300 px wide."""
    return max(16, round(max(width, height) / 16))


def draw_text_boxes(image_path: Path, text_blocks: list[dict[str, Any]]) -> Any:
    """The image with each recognized text block outlined and numbered from 0 like the JSON's
    ``text_blocks`` (white on red, sized to the image; a PIL image)."""
    from PIL import Image, ImageDraw, ImageFont, ImageOps

    with Image.open(image_path) as src:
        image = ImageOps.exif_transpose(src).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, round(min(image.size) / 250))
    size = label_size(*image.size)
    font = ImageFont.load_default(size=size)
    for i, block in enumerate(text_blocks):
        box = block.get("box")
        if box and len(box) >= 3:
            points = [(float(x), float(y)) for x, y in box]
            draw.polygon(points, outline=(255, 40, 40), width=width)
            anchor = min(points, key=lambda p: (p[1], p[0]))
        elif block.get("bbox"):
            x0, y0, x1, y1 = (float(v) for v in block["bbox"])
            draw.rectangle((x0, y0, x1, y1), outline=(255, 40, 40), width=width)
            anchor = (x0, y0)
        else:
            continue
        # the number on a red tag above the box's top-left corner (inside it at the image's top)
        left, top, right, bottom = draw.textbbox((0, 0), str(i), font=font)
        pad = max(2, size // 6)
        tag_w, tag_h = right - left + 2 * pad, bottom - top + 2 * pad
        x = min(max(0.0, anchor[0]), image.width - tag_w)
        y = anchor[1] - tag_h if anchor[1] >= tag_h else anchor[1]
        draw.rectangle((x, y, x + tag_w, y + tag_h), fill=(255, 40, 40))
        draw.text((x + pad - left, y + pad - top), str(i), fill=(255, 255, 255), font=font)
    return image
