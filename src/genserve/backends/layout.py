"""Page layout from text boxes: lines, paragraphs, reading order, text direction and skew.

Pure geometry over the four-point boxes an OCR engine returns (upright page coordinates), so it
is testable without any model. The reading order is a recursive XY-cut over paragraphs: at each
level the page is split at its widest empty band, horizontal or vertical, so a two-column page is
read column by column and a heading spanning both columns is read first.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Point = Sequence[float]
Box = Sequence[Point]  # four (x, y) points, clockwise from top-left

# NOTE: thresholds in units of the text height (the box's short side); chosen on rendered pages
# with usual line spacing (1.2-1.6x the font size) and paragraph gaps of at least one line.
SAME_LINE_OVERLAP = 0.5  # vertical overlap, as a share of the smaller height, for boxes on one line
SAME_LINE_GAP = 2.0  # largest horizontal gap between two boxes of one line
PARAGRAPH_GAP = 0.75  # largest vertical gap between two lines of one paragraph
PARAGRAPH_HEIGHT_RATIO = 1.5  # lines of one paragraph have similar heights


@dataclass
class Rect:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def h(self) -> float:
        return max(self.y1 - self.y0, 1e-6)

    @property
    def w(self) -> float:
        return max(self.x1 - self.x0, 1e-6)

    def union(self, other: Rect) -> Rect:
        return Rect(
            min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1)
        )

    def as_list(self) -> list[float]:
        return [round(self.x0, 1), round(self.y0, 1), round(self.x1, 1), round(self.y1, 1)]


def rect_of(box: Box) -> Rect:
    xs = [float(p[0]) for p in box]
    ys = [float(p[1]) for p in box]
    return Rect(min(xs), min(ys), max(xs), max(ys))


@dataclass
class Layout:
    """Reading order and grouping of the boxes given to :func:`analyze` (indices into that list)."""

    order: list[int] = field(default_factory=list)  # box indices in reading order
    line_of: dict[int, int] = field(default_factory=dict)  # box index -> line index
    paragraph_of: dict[int, int] = field(default_factory=dict)  # box index -> paragraph index
    lines: list[dict[str, Any]] = field(default_factory=list)
    paragraphs: list[dict[str, Any]] = field(default_factory=list)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        found: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            found.setdefault(self.find(i), []).append(i)
        return list(found.values())


def _same_line(a: Rect, b: Rect, max_gap: float = SAME_LINE_GAP) -> bool:
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    if overlap < SAME_LINE_OVERLAP * min(a.h, b.h):
        return False
    gap = max(a.x0, b.x0) - min(a.x1, b.x1)
    return gap <= max_gap * max(a.h, b.h)


def _same_paragraph(upper: Rect, lower: Rect) -> bool:
    if max(upper.h, lower.h) > PARAGRAPH_HEIGHT_RATIO * min(upper.h, lower.h):
        return False
    if min(upper.x1, lower.x1) - max(upper.x0, lower.x0) <= 0:  # no horizontal overlap
        return False
    gap = lower.y0 - upper.y1
    return -0.5 * min(upper.h, lower.h) <= gap <= PARAGRAPH_GAP * min(upper.h, lower.h)


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3000 <= code <= 0x303F  # CJK punctuation
        or 0x3400 <= code <= 0x9FFF  # CJK ideographs (with extension A)
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x3040 <= code <= 0x30FF  # kana
        or 0xAC00 <= code <= 0xD7AF  # hangul
    )


def join_text(parts: Sequence[str]) -> str:
    """Join pieces of one line: no space between CJK characters, one space otherwise."""
    out = ""
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if out and not (is_cjk(out[-1]) and is_cjk(part[0])):
            out += " "
        out += part
    return out


def xy_cut(items: list[int], rects: list[Rect]) -> list[int]:
    """Reading order of ``items`` (indices into ``rects``) by recursive cuts at the widest empty band."""
    if len(items) <= 1:
        return list(items)
    best: tuple[float, str, float] | None = None  # (gap, axis, cut position)
    for axis in ("y", "x"):
        lo = (lambda r: r.y0) if axis == "y" else (lambda r: r.x0)
        hi = (lambda r: r.y1) if axis == "y" else (lambda r: r.x1)
        ordered = sorted(items, key=lambda i: lo(rects[i]))
        reach = hi(rects[ordered[0]])
        for i in ordered[1:]:
            gap = lo(rects[i]) - reach
            # NOTE: a horizontal band must be clearly empty; prefer columns on near ties (x gaps
            # get a 10 % bonus) because a gutter usually spans the page while row gaps line up by chance
            score = gap * (1.1 if axis == "x" else 1.0)
            if gap > 0 and (best is None or score > best[0]):
                best = (score, axis, (reach + lo(rects[i])) / 2)
            reach = max(reach, hi(rects[i]))
    if best is None:  # overlapping everywhere: top to bottom, then left to right
        return sorted(items, key=lambda i: (rects[i].y0, rects[i].x0))
    _, axis, cut = best
    if axis == "y":
        first = [i for i in items if rects[i].y1 <= cut]
    else:
        first = [i for i in items if rects[i].x1 <= cut]
    chosen = set(first)
    second = [i for i in items if i not in chosen]
    return xy_cut(first, rects) + xy_cut(second, rects)


def analyze(boxes: Sequence[Box], texts: Sequence[str], line_gap: float = SAME_LINE_GAP) -> Layout:
    """Group boxes into lines and paragraphs and put them in reading order.

    ``line_gap``: the widest gap inside a line, in text heights (``math.inf`` inside a table: a
    line is a whole row, however far apart its cells)."""
    n = len(boxes)
    layout = Layout()
    if n == 0:
        return layout
    rects = [rect_of(b) for b in boxes]
    # 1. lines: boxes side by side at the same height
    uf = _UnionFind(n)
    for a in range(n):
        for b in range(a + 1, n):
            if _same_line(rects[a], rects[b], line_gap):
                uf.union(a, b)
    lines = [sorted(group, key=lambda i: rects[i].x0) for group in uf.groups()]
    line_rects = []
    for members in lines:
        r = rects[members[0]]
        for i in members[1:]:
            r = r.union(rects[i])
        line_rects.append(r)
    # 2. paragraphs: lines stacked closely, overlapping horizontally, of similar height
    m = len(lines)
    puf = _UnionFind(m)
    for a in range(m):
        for b in range(m):
            if (
                a != b
                and line_rects[a].y0 <= line_rects[b].y0
                and _same_paragraph(line_rects[a], line_rects[b])
            ):
                puf.union(a, b)
    paragraphs = [sorted(group, key=lambda j: (line_rects[j].y0, line_rects[j].x0)) for group in puf.groups()]
    para_rects = []
    for members in paragraphs:
        r = line_rects[members[0]]
        for j in members[1:]:
            r = r.union(line_rects[j])
        para_rects.append(r)
    # 3. reading order: paragraphs by XY-cut, lines top to bottom, boxes left to right
    for p_index, p in enumerate(xy_cut(list(range(len(paragraphs))), para_rects)):
        line_indices = []
        for j in paragraphs[p]:
            l_index = len(layout.lines)
            members = lines[j]
            first = len(layout.order)
            for i in members:
                layout.order.append(i)
                layout.line_of[i] = l_index
                layout.paragraph_of[i] = p_index
            layout.lines.append(
                {
                    "index": l_index,
                    "text": join_text([texts[i] for i in members]),
                    "bbox": line_rects[j].as_list(),
                    "paragraph": p_index,
                    "text_blocks": list(range(first, first + len(members))),
                }
            )
            line_indices.append(l_index)
        layout.paragraphs.append(
            {
                "index": p_index,
                "text": "\n".join(layout.lines[k]["text"] for k in line_indices),
                "bbox": para_rects[p].as_list(),
                "lines": line_indices,
            }
        )
    return layout


def _edges(box: Box) -> tuple[float, float, float]:
    """(top edge length, side edge length, angle of the top edge in degrees)."""
    (x0, y0), (x1, y1), (x2, y2) = (box[0][0], box[0][1]), (box[1][0], box[1][1]), (box[2][0], box[2][1])
    top = math.hypot(x1 - x0, y1 - y0)
    side = math.hypot(x2 - x1, y2 - y1)
    return top, side, math.degrees(math.atan2(y1 - y0, x1 - x0))


def vertical_share(boxes: Sequence[Box]) -> float:
    """Share of the text area in boxes taller than wide (text lines running up or down the page)."""
    total = vertical = 0.0
    for box in boxes:
        top, side, _ = _edges(box)
        area = top * side
        total += area
        if side > 1.5 * top:
            vertical += area
    return vertical / total if total else 0.0


def skew_degrees(boxes: Sequence[Box]) -> float:
    """Median angle of the long edges of the boxes, in degrees (positive: clockwise), within ±45."""
    angles = []
    for box in boxes:
        top, side, angle = _edges(box)
        if side > top:
            angle -= 90.0
        angle = (angle + 45.0) % 90.0 - 45.0
        angles.append(angle)
    return round(statistics.median(angles), 2) if angles else 0.0
