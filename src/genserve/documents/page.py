"""The page a document is read from: text blocks with upright boxes, regions, and rows.

A row is every block at one height across the page, however far apart (a receipt's item name on
the left, its price on the right), measured after levelling the page by its skew so a page
photographed 5 degrees off still has its name and price on one row.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# NOTE: two blocks share a row when their levelled centres are within this share of the smaller
# text height; 0.5 keeps neighbouring lines (1.2x the height apart or more) on separate rows.
ROW_TOLERANCE = 0.5
COLUMN_LINES = 3.0  # a region this many text heights high, beside another, is a column of text


# a date read without the space before its time ("2025/03/1008:25:00"): the space is put back
_GLUED_TIME = re.compile(r"((?:19|20)\d{2}[-/.年]\d{1,2}[-/.月]\d{1,2}日?)(?=\d{1,2}:\d{2})")


def normalize(text: str) -> str:
    """NFKC (full-width digits, letters and punctuation to ASCII), single spaces, trimmed."""
    return _GLUED_TIME.sub(r"\1 ", " ".join(unicodedata.normalize("NFKC", text).split()))


@dataclass
class Token:
    """One text block: its index in ``text_blocks``, its text and its four-point box (upright page)."""

    index: int
    text: str
    box: Sequence[Sequence[float]]
    region: int | None = None
    # levelled geometry, set by Page
    cx: float = 0.0
    cy: float = 0.0
    width: float = 0.0
    height: float = 0.0

    @property
    def x0(self) -> float:
        return self.cx - self.width / 2

    @property
    def x1(self) -> float:
        return self.cx + self.width / 2

    @property
    def y0(self) -> float:
        return self.cy - self.height / 2

    @property
    def y1(self) -> float:
        return self.cy + self.height / 2


@dataclass
class Row:
    """Blocks at one height, left to right; ``text`` joins them with one space."""

    tokens: list[Token]
    text: str = ""
    spans: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, token position)

    def __post_init__(self) -> None:
        parts: list[str] = []
        pos = 0
        for k, token in enumerate(self.tokens):
            text = normalize(token.text)
            if parts:
                pos += 1
            self.spans.append((pos, pos + len(text), k))
            parts.append(text)
            pos += len(text)
        self.text = " ".join(parts)

    @property
    def cy(self) -> float:
        return statistics.fmean(t.cy for t in self.tokens)

    @property
    def height(self) -> float:
        return statistics.median(t.height for t in self.tokens)

    @property
    def x0(self) -> float:
        return min(t.x0 for t in self.tokens)

    @property
    def x1(self) -> float:
        return max(t.x1 for t in self.tokens)

    def blocks(self, start: int = 0, end: int | None = None) -> list[int]:
        """Indices of the text blocks under the characters ``start:end`` of ``text``."""
        end = len(self.text) if end is None else end
        return [self.tokens[k].index for s, e, k in self.spans if s < end and e > start]


@dataclass
class Page:
    width: int
    height: int
    tokens: list[Token]
    regions: list[dict[str, Any]] = field(default_factory=list)  # layout.regions (type, text_blocks, ...)
    skew: float = 0.0  # degrees, positive clockwise (layout.skew)

    def __post_init__(self) -> None:
        angle = math.radians(self.skew)
        cos, sin = math.cos(angle), math.sin(angle)
        ox, oy = self.width / 2, self.height / 2
        for t in self.tokens:
            pts = [(float(p[0]), float(p[1])) for p in t.box]
            x = sum(p[0] for p in pts) / len(pts) - ox
            y = sum(p[1] for p in pts) / len(pts) - oy
            # turn the page back by its skew, around its centre
            t.cx, t.cy = ox + x * cos + y * sin, oy - x * sin + y * cos
            (x0, y0), (x1, y1), (x2, y2) = pts[0], pts[1], pts[2]
            top, side = math.hypot(x1 - x0, y1 - y0), math.hypot(x2 - x1, y2 - y1)
            t.width, t.height = max(top, 1.0), max(side, 1.0)

    @property
    def text(self) -> str:
        return "\n".join(row.text for row in self.rows())

    def rows(self, tokens: Sequence[Token] | None = None) -> list[Row]:
        """Blocks grouped by height (levelled), top to bottom; each row left to right."""
        pending = sorted(self.tokens if tokens is None else tokens, key=lambda t: t.cy)
        groups: list[list[Token]] = []
        for t in pending:
            if groups:
                row = groups[-1]
                cy = statistics.fmean(r.cy for r in row)
                h = min(t.height, statistics.median(r.height for r in row))
                if abs(t.cy - cy) <= ROW_TOLERANCE * h:
                    row.append(t)
                    continue
            groups.append([t])
        rows: list[Row] = []
        for group in groups:
            rows.extend(Row(part) for part in self._columns(sorted(group, key=lambda t: t.x0)))
        return rows

    def _columns(self, row: list[Token]) -> list[list[Token]]:
        """A row cut where it crosses from one model region into another beside it, both several
        lines high (columns of text; one-line regions side by side are parts of one row)."""
        parts = [[row[0]]]
        for prev, t in itertools.pairwise(row):
            a, b = self._region(prev.region), self._region(t.region)
            tall = COLUMN_LINES * max(prev.height, t.height)
            side_by_side = (
                a is not None
                and b is not None
                and a is not b
                and a.get("source") == b.get("source") == "model"
                and (a["bbox"][2] <= b["bbox"][0] or b["bbox"][2] <= a["bbox"][0])
                and min(a["bbox"][3] - a["bbox"][1], b["bbox"][3] - b["bbox"][1]) >= tall
            )
            if side_by_side:
                parts.append([t])
            else:
                parts[-1].append(t)
        return parts

    def _region(self, index: int | None) -> dict[str, Any] | None:
        if index is None or not 0 <= index < len(self.regions):
            return None
        region = self.regions[index]
        return region if region.get("index", index) == index else None

    def region_tokens(self, region: dict[str, Any]) -> list[Token]:
        wanted = set(region.get("text_blocks") or [])
        return [t for t in self.tokens if t.index in wanted]

    @property
    def median_height(self) -> float:
        return statistics.median(t.height for t in self.tokens) if self.tokens else 0.0
