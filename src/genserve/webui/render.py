"""What the page shows of a job: its state with a progress bar, and its result in plain words.

Everything here reads the job view the API also returns (``Service.view``), so the page and the
API never disagree about a job. Each function takes the page's :class:`~genserve.webui.i18n.Translator`
(``t``); job data (texts found, file names, the English message of a refusal) is shown as it is.
"""

from __future__ import annotations

import html
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from genserve.webui.i18n import N_, Translator

ENGLISH = Translator("en")

STATUS_WORDS = {
    "queued": N_("Waiting in the queue"),
    "running": N_("Running"),
    "succeeded": N_("Done"),
    "failed": N_("Failed"),
    "canceled": N_("Canceled"),
}

# what each error code (genserve.errors) means, shown in the page's language above the English
# message of the refusal (the error codes are stable; the REST API and the CLI say the English)
CODE_HEADLINES = {
    "internal_error": N_("Something went wrong on the server"),
    "invalid_input": N_("A parameter or an input breaks a rule"),
    "unsupported_media": N_("A file is not the kind of media expected"),
    "too_large": N_("A file or an image is too large"),
    "not_found": N_("Not found"),
    "method_not_allowed": N_("This action is not allowed here"),
    "range_not_satisfiable": N_("The requested part of the file does not exist"),
    "backend_unavailable": N_("The backend cannot run here"),
    "out_of_memory": N_("Out of memory, even with lighter settings"),
    "timeout": N_("It took longer than allowed"),
    "canceled": N_("The job was canceled"),
    "conflict": N_("This conflicts with the job's state"),
    "unauthorized": N_("Sign in with a valid API key"),
    "forbidden": N_("This address is not allowed"),
    "rate_limited": N_("Too many jobs at once for this key"),
    "server_unreachable": N_("The server did not answer"),
}


# the warnings genserve's own code words (jobs/request.py, tasks/talking_head.py, device.py,
# backends/diffusers_adapter.py), as templates: a warning that matches one is shown in the page's
# language with its values; any other warning (a backend's own words) is shown as it is
WARNING_TEMPLATES = (
    N_("{name} is not used by the {backend} backend"),
    N_("inference_steps={value} is below {limit}: motion may jitter"),
    N_("dynamic_scale={value} is above {limit}: the mouth may look exaggerated"),
    N_("device {device} is not usable here (no CUDA); fell back to CPU"),
    N_("this backend does not run on {kind}; using {device}"),
    N_("resolution {resolution} capped to a {cap}px short side by GENSERVE_I2V_MAX_SHORT_SIDE"),
)


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    return re.compile(regex)


_WARNING_PATTERNS = [(template, _pattern(template)) for template in WARNING_TEMPLATES]


def warning_text(warning: str, t: Translator = ENGLISH) -> str:
    """A job's warning in the page's language when genserve worded it (see WARNING_TEMPLATES)."""
    if t.english:
        return warning
    for template, pattern in _WARNING_PATTERNS:
        found = pattern.fullmatch(warning)
        if found:
            return t(template, **found.groupdict())
    return warning


def _seconds(value: float, t: Translator = ENGLISH) -> str:
    if value < 90:
        return t("{n} s", n=round(value))
    return t("{n} min", n=round(value / 60, 1))


def running_eta(view: dict[str, Any], now: float | None = None) -> float | None:
    """Seconds left for a running job, from its pace so far (None before the first step)."""
    progress = view.get("progress") or {}
    step, total = progress.get("step") or 0, progress.get("total") or 0
    if not view.get("started_at") or step <= 0 or total <= step:
        return None
    started = datetime.fromisoformat(view["started_at"]).timestamp()
    elapsed = (now or time.time()) - started
    return max(0.0, elapsed * (total - step) / step)


def status_line(view: dict[str, Any], t: Translator = ENGLISH) -> str:
    """The job's state in words: queue position and ETA while queued, steps and time left while
    running, the outcome when finished (plain text: a gradio_client caller reads it as it is)."""
    status = view["status"]
    words = t(STATUS_WORDS[status]) if status in STATUS_WORDS else status
    detail = ""
    if status == "queued":
        position = view.get("queue_position")
        if position is not None:
            detail = t("position {n} in the queue", n=position + 1) if position else t("next in the queue")
        if view.get("eta_s") is not None:
            detail += t(", starts in about {time}", time=_seconds(view["eta_s"], t))
    elif status == "running":
        progress = view.get("progress") or {}
        step, total = progress.get("step") or 0, progress.get("total") or 0
        if total:
            detail = t("step {step} of {total}", step=step, total=total)
            eta = running_eta(view)
            if eta is not None:
                detail += t(", about {time} left", time=_seconds(eta, t))
        else:
            detail = t("loading the model")
    elif status == "succeeded":
        result = view.get("result") or {}
        if result.get("duration_sec") is not None:
            return t("Done in {seconds:.1f} s", seconds=result["duration_sec"])
    return t("{status}: {detail}", status=words, detail=detail) if detail else words


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


def notes_markdown(view: dict[str, Any], t: Translator = ENGLISH) -> str:
    """Warnings, degradation and errors in plain words (empty when there is nothing to say)."""
    lines: list[str] = []
    result = view.get("result") or {}
    if view["status"] == "failed":
        message = view.get("message") or result.get("message") or "the job failed"
        lines.append(refusal_markdown(message, view.get("error") or "internal_error", t, N_("Error")))
    if view["status"] == "canceled":
        lines.append(t("The job was canceled."))
    degraded = result.get("degraded") or []
    if degraded:
        lines.append(
            t(
                "**Ran out of memory**, so it was retried with lighter settings: {steps}. "
                "The result is smaller or shorter than asked.",
                steps="; ".join(degraded),
            )
        )
    warnings = list(dict.fromkeys([*(view.get("warnings") or []), *(result.get("warnings") or [])]))
    lines.extend(t("**Note:** {warning}", warning=warning_text(w, t)) for w in warnings)
    return "\n\n".join(lines)


def refusal_markdown(
    message: str,
    code: str = "invalid_input",
    t: Translator = ENGLISH,
    what: str = N_("Not submitted"),
    argument: str | None = None,
) -> str:
    """A refused action, shown inline: in English the teaching message itself; in another language
    what the error code means (and the argument it names), with the English message on a detail line."""
    if t.english:
        return f"**{t(what)}:** {message}"
    headline = t(CODE_HEADLINES.get(code, CODE_HEADLINES["internal_error"]))
    if argument:
        headline = t("{headline} (`{argument}`)", headline=headline, argument=argument)
    shown = t("**{what}:** {message}", what=t(what), message=headline)
    return shown + "\n\n" + t("*Original message (English):* {message}", message=message)


def error_markdown(exc: Any, t: Translator = ENGLISH, what: str = N_("Not submitted")) -> str:
    """A refused action from the GenserveError that refused it."""
    return refusal_markdown(exc.message, exc.code, t, what, getattr(exc, "argument", None))


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


def recognized_text(result: dict[str, Any], t: Translator = ENGLISH) -> str:
    """A recognize result as text: per image its name, each text block with the number drawn on
    its box (the block's index in the JSON), then its labels."""
    items = result_items(result)
    parts = []
    for item in items:
        lines = [str(item.get("image_path") or "")] if len(items) > 1 or item.get("image_path") else []
        blocks = item.get("text_blocks") or []
        lines.extend(f"{i}  {block.get('text', '')}" for i, block in enumerate(blocks))
        if not blocks:
            lines.append(t("(no text found)"))
        objects = item.get("objects") or []
        if objects:
            names = ", ".join(
                f"{o.get('label_zh') or o.get('label')} ({float(o.get('score', 0)):.0%})" for o in objects
            )
            lines.append(t("Labels: {names}", names=names))
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


def suggestion_markdown(suggestion: Any, t: Translator = ENGLISH) -> str:
    """A task's upload suggestion (a ``genserve.tasks.Suggestion``) with its reason and what
    accepting it sets; its title and reason are message keys, translated here."""
    changes = ", ".join(f"{k} = {v!r}" for k, v in suggestion.params.items())
    return t(
        "**Suggestion: {title}.** {reason} Accepting sets {changes}.",
        title=t(suggestion.title),
        reason=t(suggestion.reason, **suggestion.values),
        changes=changes,
    )
