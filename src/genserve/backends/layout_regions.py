"""Layout regions and a reading order that respects them (pure geometry over boxes and regions).

Regions come from the layout model (:mod:`genserve.backends.regions`) when it is installed. Each
text box joins the region that holds most of it; boxes no region holds form regions of their own
from the geometry (one per paragraph, as below). Regions are read in XY-cut order (columns one
after the other), page headers and footers after the body; inside a region, lines, paragraphs
and order come from :func:`genserve.backends.layout.analyze`, where a table's line is a whole row
(its cells left to right), so a table is read row by row.

Without the model every paragraph is a region of type ``text`` from the geometry: the layout is
exactly :func:`~genserve.backends.layout.analyze`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from genserve.backends import layout as page_layout
from genserve.backends.layout import Box, Layout, Rect, rect_of
from genserve.backends.regions import DetectedRegion

READ_LAST = ("header", "footer")  # page furniture: read after the body, headers first
# NOTE: the model scores each class on its own, so one area can come back as two classes (a
# paragraph as "text" and as "reference"); above this IoU only the better-scored class is kept.
SAME_AREA_IOU = 0.8
INSIDE_SHARE = 0.5  # a text box belongs to a region holding at least half of its area


@dataclass
class RegionLayout:
    """:class:`Layout` plus the regions (in reading order) and each box's region."""

    layout: Layout
    regions: list[dict[str, Any]] = field(default_factory=list)
    region_of: dict[int, int] = field(default_factory=dict)  # box index -> region index
    source: str = "geometry"  # "model": regions from the layout model; "geometry": from the boxes


@dataclass
class _Unit:
    kind: str
    rect: Rect
    score: float | None
    source: str
    members: list[int]


def _area(r: Rect) -> float:
    return max(r.x1 - r.x0, 0.0) * max(r.y1 - r.y0, 0.0)


def _intersection(a: Rect, b: Rect) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def iou(a: Rect, b: Rect) -> float:
    inter = _intersection(a, b)
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def one_class_per_area(detected: Sequence[DetectedRegion]) -> list[DetectedRegion]:
    """Drop a region that covers the same area as a better-scored region of another class."""
    kept: list[DetectedRegion] = []
    for region in sorted(detected, key=lambda r: -r.score):
        rect = Rect(*region.box)
        if all(iou(rect, Rect(*k.box)) <= SAME_AREA_IOU for k in kept):
            kept.append(region)
    return kept


def geometry_regions(boxes: Sequence[Box], texts: Sequence[str]) -> RegionLayout:
    """The fallback: each paragraph of :func:`layout.analyze` is a ``text`` region."""
    found = page_layout.analyze(boxes, texts)
    regions = []
    for p in found.paragraphs:
        blocks = [b for line in p["lines"] for b in found.lines[line]["text_blocks"]]
        regions.append(
            {
                "index": p["index"],
                "type": "text",
                "bbox": p["bbox"],
                "score": None,
                "source": "geometry",
                "paragraphs": [p["index"]],
                "text_blocks": blocks,
            }
        )
        p["region"] = p["index"]
    for line in found.lines:
        line["region"] = line["paragraph"]
    return RegionLayout(found, regions, dict(found.paragraph_of), "geometry")


def analyze(
    boxes: Sequence[Box], texts: Sequence[str], detected: Sequence[DetectedRegion] | None
) -> RegionLayout:
    """Lines, paragraphs and reading order of the boxes within regions (``None``: no model ran)."""
    if detected is None:
        return geometry_regions(boxes, texts)
    rects = [rect_of(b) for b in boxes]
    # 1. one class per area; each text box into the region that holds most of it (the smaller on a tie)
    model = one_class_per_area(detected)
    model_rects = [Rect(*r.box) for r in model]
    members: list[list[int]] = [[] for _ in model]
    loose: list[int] = []
    for i, rect in enumerate(rects):
        best: tuple[float, float, int] | None = None
        for j, region in enumerate(model_rects):
            share = _intersection(rect, region) / max(_area(rect), 1e-6)
            if share >= INSIDE_SHARE and (best is None or (share, -_area(region)) > best[:2]):
                best = (share, -_area(region), j)
        if best is None:
            loose.append(i)
        else:
            members[best[2]].append(i)
    units = [
        _Unit(r.kind, _union([model_rects[j], *(rects[i] for i in members[j])]), r.score, "model", members[j])
        for j, r in enumerate(model)
        # a text class the model found but no text fell into (a false alarm, or text the OCR missed)
        if members[j] or r.kind in ("figure", "table", "equation")
    ]
    # 2. text outside every region: its paragraphs become regions of their own
    if loose:
        found = page_layout.analyze([boxes[i] for i in loose], [texts[i] for i in loose])
        for p in found.paragraphs:
            own = [loose[k] for k in found.order if found.paragraph_of[k] == p["index"]]
            units.append(_Unit("text", Rect(*p["bbox"]), None, "geometry", own))
    # 3. regions in reading order: the body by XY-cut (columns), then headers, then footers
    body = [k for k, u in enumerate(units) if u.kind not in READ_LAST]
    ordered = page_layout.xy_cut(body, [u.rect for u in units])
    for kind in READ_LAST:
        ordered += sorted((k for k, u in enumerate(units) if u.kind == kind), key=lambda k: units[k].rect.y0)
    # 4. lines, paragraphs and order inside each region, numbered across the page
    result = RegionLayout(Layout(), source="model")
    out = result.layout
    for r_index, k in enumerate(ordered):
        unit = units[k]
        # inside a table a line is a whole row, read left to right (its cells are far apart)
        line_gap = math.inf if unit.kind == "table" else page_layout.SAME_LINE_GAP
        sub = page_layout.analyze(
            [boxes[i] for i in unit.members], [texts[i] for i in unit.members], line_gap
        )
        first_block, first_line, first_paragraph = len(out.order), len(out.lines), len(out.paragraphs)
        for j in sub.order:
            i = unit.members[j]
            out.order.append(i)
            out.line_of[i] = first_line + sub.line_of[j]
            out.paragraph_of[i] = first_paragraph + sub.paragraph_of[j]
            result.region_of[i] = r_index
        for line in sub.lines:
            line["index"] += first_line
            line["paragraph"] += first_paragraph
            line["text_blocks"] = [b + first_block for b in line["text_blocks"]]
            line["region"] = r_index
            out.lines.append(line)
        for p in sub.paragraphs:
            p["index"] += first_paragraph
            p["lines"] = [x + first_line for x in p["lines"]]
            p["region"] = r_index
            out.paragraphs.append(p)
        result.regions.append(
            {
                "index": r_index,
                "type": unit.kind,
                "bbox": unit.rect.as_list(),
                "score": round(unit.score, 4) if unit.score is not None else None,
                "source": unit.source,
                "paragraphs": list(range(first_paragraph, len(out.paragraphs))),
                "text_blocks": list(range(first_block, len(out.order))),
            }
        )
    return result


def _union(rects: Sequence[Rect]) -> Rect:
    out = rects[0]
    for r in rects[1:]:
        out = out.union(r)
    return out
