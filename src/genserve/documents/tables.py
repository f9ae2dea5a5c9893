"""Tables rebuilt from the text boxes' alignment: rows by height, columns by overlapping x ranges.

Inside each ``table`` region (from the layout model), or, where no model ran or it found none, in
runs of at least :data:`MIN_ROWS` consecutive rows of at least :data:`MIN_COLUMNS` blocks whose
x ranges line up. The rows with the most common number of blocks are the full rows and give the
columns; the blocks of other rows join the column they overlap most. Cells hold the blocks' text;
a table comes out as a list of rows and as CSV.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

from genserve.documents.page import Page, Row, Token, normalize

MIN_ROWS = 3
MIN_COLUMNS = 2
# NOTE: rows of one table are at most this many row heights apart (a table's line spacing is tight)
ROW_GAP = 2.5
ALIGNED_SHARE = 0.6  # share of a run's rows with a block in every column
PROSE_CELL = 16  # characters: two columns of sentences side by side are text, not a table


@dataclass
class Table:
    rows: list[list[str]]
    blocks: list[int]
    region: int | None
    source: str  # "model": inside a table region; "geometry": aligned rows

    @property
    def n_cols(self) -> int:
        return max((len(r) for r in self.rows), default=0)

    def csv(self) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(self.rows)
        return out.getvalue()

    def as_dict(self, index: int) -> dict[str, Any]:
        return {
            "index": index,
            "region": self.region,
            "source": self.source,
            "n_rows": len(self.rows),
            "n_cols": self.n_cols,
            "rows": self.rows,
            "text_blocks": sorted(self.blocks),
        }


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return min(a[1], b[1]) - max(a[0], b[0])


def columns_of(rows: list[Row]) -> list[tuple[float, float]]:
    """Column x ranges, left to right: the rows with the most common number of blocks (at least
    two) are the full rows; column j spans their j-th blocks. Headers aligned left over figures
    aligned right still make one column each. Empty when those ranges overlap (not a grid)."""
    counts = Counter(len(r.tokens) for r in rows if len(r.tokens) >= MIN_COLUMNS)
    if not counts:
        return []
    k = max(counts, key=lambda n: (counts[n], n))
    full = [r for r in rows if len(r.tokens) == k]
    cols = [(min(r.tokens[j].x0 for r in full), max(r.tokens[j].x1 for r in full)) for j in range(k)]
    if any(cols[j][1] > cols[j + 1][0] for j in range(k - 1)):
        return []
    return cols


def _column(t: Token, cols: list[tuple[float, float]]) -> int:
    """The column a block overlaps most; the nearest one when it overlaps none."""
    return max(
        range(len(cols)),
        key=lambda j: (_overlap((t.x0, t.x1), cols[j]), -abs(t.cx - (cols[j][0] + cols[j][1]) / 2)),
    )


def grid(rows: list[Row], cols: list[tuple[float, float]] | None = None) -> list[list[str]]:
    """Cell texts: a full row block by block, any other block in the column it overlaps most."""
    cols = columns_of(rows) if cols is None else cols
    out = []
    for row in rows:
        cells: list[list[str]] = [[] for _ in cols]
        positional = len(row.tokens) == len(cols)
        for j, t in enumerate(row.tokens):
            cells[j if positional else _column(t, cols)].append(normalize(t.text))
        out.append([" ".join(c) for c in cells])
    return out


def aligned_runs(rows: list[Row]) -> list[list[Row]]:
    """Runs of consecutive, closely spaced rows of several blocks each, whose blocks line up."""
    runs: list[list[Row]] = []
    run: list[Row] = []
    for row in rows:
        if len(row.tokens) >= MIN_COLUMNS and (
            not run or row.cy - run[-1].cy <= ROW_GAP * max(row.height, run[-1].height)
        ):
            run.append(row)
            continue
        if len(run) >= MIN_ROWS:
            runs.append(run)
        run = [row] if len(row.tokens) >= MIN_COLUMNS else []
    if len(run) >= MIN_ROWS:
        runs.append(run)
    found = []
    for run in runs:
        cols = columns_of(run)
        full = sum(len(r.tokens) == len(cols) for r in run)
        cells = [normalize(t.text) for r in run for t in r.tokens]
        prose = sum(len(c) >= PROSE_CELL for c in cells)
        if len(cols) >= MIN_COLUMNS and full >= ALIGNED_SHARE * len(run) and prose < len(cells) / 2:
            found.append(run)
    return found


def find_tables(page: Page, rows: list[Row] | None = None) -> list[Table]:
    """Tables in the page's table regions; without any, tables of aligned rows."""
    tables = []
    for region in page.regions:
        if region.get("type") != "table":
            continue
        tokens: list[Token] = page.region_tokens(region)
        region_rows = page.rows(tokens)
        if len(region_rows) < 2:
            continue
        cols = columns_of(region_rows)
        if len(cols) < MIN_COLUMNS:
            continue
        cells = grid(region_rows, cols)
        tables.append(Table(cells, [t.index for t in tokens], region.get("index"), "model"))
    if tables:
        return tables
    for run in aligned_runs(page.rows() if rows is None else rows):
        tables.append(Table(grid(run), [t.index for r in run for t in r.tokens], None, "geometry"))
    return tables
