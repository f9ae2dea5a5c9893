"""Document metrics: field accuracy, item recall and table cell accuracy against expected values.

A suite asset states what is printed on it under ``expect.document``::

    expect:
      document:
        type: receipt
        fields: {total: 36.8, date: "2026-01-21"}
        items: [{name: 苹果, amount: 8.5}, {name: 牛奶, amount: 12.0}]
        table: [[季度, 收入], [Q1, "31,490"]]

Matching is exact where the issue asks for it: an amount equals the printed number (to the cent), a
date is the ISO string (``2026/01/21`` is a miss), a type is the same word. Names and cells are
compared after NFKC, case folding and without spaces, as the CER metric compares text.
"""

from __future__ import annotations

from typing import Any

from genserve.gates.context import MeasureContext
from genserve.gates.recognition import normalize_text
from genserve.gates.registry import MetricSkipped, metric


def expected_document(ctx: MeasureContext) -> dict[str, Any]:
    expected = ctx.expected.get("document")
    if not isinstance(expected, dict):
        raise MetricSkipped("the asset has no expected document (expect: {document: {...}})")
    return expected


def same_value(expected: Any, got: Any) -> bool:
    """Numbers to the cent; everything else as the same text."""
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return isinstance(got, int | float) and not isinstance(got, bool) and abs(got - expected) < 0.005
    return got is not None and str(got) == str(expected)


def field_checks(expected: dict[str, Any], document: dict[str, Any]) -> dict[str, bool]:
    """Per expected field (and ``type`` when expected): was it read exactly?"""
    fields = document.get("fields") or {}
    checks = {
        name: same_value(value, (fields.get(name) or {}).get("value"))
        for name, value in (expected.get("fields") or {}).items()
    }
    if "type" in expected:
        checks["type"] = document.get("type") == expected["type"]
    return checks


def item_matches(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> list[bool]:
    """Each expected item: is there a returned item of that name with that amount (or price)?"""
    left = list(got)
    found = []
    for want in expected:
        name = normalize_text(str(want.get("name", "")))
        price_keys = [k for k in ("amount", "unit_price", "quantity") if want.get(k) is not None]
        hit = next(
            (
                g
                for g in left
                if normalize_text(str(g.get("name", ""))) == name
                and all(same_value(want[k], g.get(k)) for k in price_keys)
            ),
            None,
        )
        if hit is not None:
            left.remove(hit)
        found.append(hit is not None)
    return found


def cell_accuracy(expected: list[list[Any]], rows: list[list[Any]]) -> float:
    cells = [(r, c) for r, row in enumerate(expected) for c in range(len(row))]
    if not cells:
        raise MetricSkipped("the expected table is empty")
    right = sum(
        1
        for r, c in cells
        if r < len(rows)
        and c < len(rows[r])
        and normalize_text(str(rows[r][c])) == normalize_text(str(expected[r][c]))
    )
    return right / len(cells)


@metric(
    "field_accuracy",
    unit="fraction",
    direction="higher",
    version="1",
    description="Share of the expected document fields (and the type) read exactly: amounts to the cent, "
    "dates as ISO 8601",
    tasks=("recognize",),
)
def field_accuracy(ctx: MeasureContext) -> float:
    expected = expected_document(ctx)
    checks = field_checks(expected, ctx.result.get("document") or {})
    if not checks:
        raise MetricSkipped("the expected document names no fields (expect: {document: {fields: ...}})")
    fields = (ctx.result.get("document") or {}).get("fields") or {}
    ctx.note(
        "field_accuracy",
        wrong={name: (fields.get(name) or {}).get("value") for name, ok in checks.items() if not ok},
    )
    return sum(checks.values()) / len(checks)


@metric(
    "item_recall",
    unit="fraction",
    direction="higher",
    version="1",
    description="Share of the expected line items returned with the same name and amount",
    tasks=("recognize",),
)
def item_recall(ctx: MeasureContext) -> float:
    expected = expected_document(ctx).get("items")
    if not expected:
        raise MetricSkipped("the expected document lists no items (expect: {document: {items: [...]}})")
    found = item_matches(expected, (ctx.result.get("document") or {}).get("items") or [])
    ctx.note("item_recall", missing=[w.get("name") for w, ok in zip(expected, found, strict=True) if not ok])
    return sum(found) / len(found)


@metric(
    "table_cell_accuracy",
    unit="fraction",
    direction="higher",
    version="1",
    description="Share of the expected table's cells read into the same row and column (best table)",
    tasks=("recognize",),
)
def table_cell_accuracy(ctx: MeasureContext) -> float:
    expected = expected_document(ctx).get("table")
    if not expected:
        raise MetricSkipped("the expected document has no table (expect: {document: {table: [[...]]}})")
    tables = (ctx.result.get("document") or {}).get("tables") or []
    if not tables:
        return 0.0
    return max(cell_accuracy(expected, t.get("rows") or []) for t in tables)
