"""The HTML report for review: verdict, the check table, a contact sheet of frames per video, the
videos themselves, and a plot per checked metric (candidate against baseline)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from genserve.errors import missing_extra
from genserve.gates.judge import JOB_CHECK, CheckVerdict, Judgement
from genserve.gates.results import Results

SHEET_FRAMES = 8
THUMB_HEIGHT = 120


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def contact_sheet(video: Path, path: Path, frames: int = SHEET_FRAMES) -> Path:
    """A strip of ``frames`` evenly spaced frames, each labelled with its index."""
    from genserve.media.video import iter_frames, probe_video

    total = probe_video(video).num_frames
    wanted = set(
        np.linspace(0, max(total - 1, 0), num=min(frames, max(total, 1))).round().astype(int).tolist()
    )
    thumbs: list[tuple[int, Image.Image]] = []
    for i, frame in enumerate(iter_frames(video)):
        if i in wanted:
            img = Image.fromarray(frame)
            w = max(1, round(img.width * THUMB_HEIGHT / img.height))
            thumbs.append((i, img.resize((w, THUMB_HEIGHT), Image.Resampling.BILINEAR)))
    gap = 4
    width = sum(t.width for _, t in thumbs) + gap * (len(thumbs) + 1)
    sheet = Image.new("RGB", (max(width, 1), THUMB_HEIGHT + 2 * gap + 14), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    x = gap
    for i, thumb in thumbs:
        sheet.paste(thumb, (x, gap))
        draw.text((x + 2, THUMB_HEIGHT + gap + 1), f"#{i}", fill=(220, 220, 220))
        x += thumb.width + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def metric_plot(check: CheckVerdict, path: Path) -> Path | None:
    """Bars per asset: baseline (grey) and candidate (green pass / red fail), bounds as lines."""
    rows = [o for o in check.outcomes if o.value is not None]
    if not rows:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise missing_extra("matplotlib", "gates") from None
    labels = [f"{o.case}/{o.asset}" for o in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(rows) + 2), 3.0), dpi=90)
    try:
        base = [o.baseline if o.baseline is not None else np.nan for o in rows]
        ax.bar(x - 0.2, base, width=0.4, color="#9e9e9e", label="baseline")
        colors = ["#2e7d32" if o.status == "pass" else "#c62828" for o in rows]
        ax.bar(
            x + 0.2,
            [o.value if o.value is not None else np.nan for o in rows],
            width=0.4,
            color=colors,
            label="candidate",
        )
        ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
        ax.set_title(f"{check.id} ({check.unit}, {check.direction} is better)", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def write_html(results: Results, judgement: Judgement, report_dir: Path) -> Path:
    try:
        import jinja2
    except ImportError:
        raise missing_extra("jinja2", "gates") from None
    report_dir.mkdir(parents=True, exist_ok=True)
    # 1. a contact sheet per video
    cases = []
    for case in results.cases:
        assets = []
        for asset in case.assets:
            video = asset.job.video if asset.job.video and Path(asset.job.video).is_file() else None
            sheet = None
            if video:
                sheet = contact_sheet(
                    Path(video), report_dir / "contact" / f"{_slug(case.name)}__{_slug(asset.id)}.png"
                )
            assets.append(
                {
                    "id": asset.id,
                    "status": asset.job.status,
                    "message": asset.job.message,
                    "sheet": os.path.relpath(sheet, report_dir) if sheet else None,
                    "video": os.path.relpath(video, report_dir) if video else None,
                    "metrics": asset.metrics,
                }
            )
        params = ", ".join(f"{k}={v}" for k, v in case.params.items())
        cases.append(
            {
                "name": case.name,
                "task": case.task,
                "backend": case.backend,
                "assets": assets,
                "params_text": params or "default parameters",
            }
        )
    # 2. a plot per check
    plots = []
    for check in judgement.checks:
        if check.metric == JOB_CHECK:
            continue
        png = metric_plot(check, report_dir / "plots" / f"{_slug(check.id)}.png")
        if png is not None:
            plots.append({"id": check.id, "status": check.status, "src": os.path.relpath(png, report_dir)})
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("genserve.gates", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    html = env.get_template("report.html.j2").render(
        results=results, judgement=judgement, cases=cases, plots=plots
    )
    path = report_dir / "report.html"
    path.write_text(html)
    return path
