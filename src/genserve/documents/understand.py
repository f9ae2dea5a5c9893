"""One page in, one ``document`` out: type (with score and evidence), fields, items, checks, tables."""

from __future__ import annotations

import re
from typing import Any

from genserve.backends.layout import is_cjk
from genserve.documents import values
from genserve.documents.fields import find_fields
from genserve.documents.items import Item, find_items, sum_check
from genserve.documents.page import Page, Row
from genserve.documents.tables import Table, find_tables
from genserve.documents.types import classify

ITEM_TYPES = ("receipt", "invoice", "menu")
NUMBERED = re.compile(
    r"^(?:\d{1,2}\s?[.、．)]|[(（]\s?\d{1,2}\s?[)）]|[一二三四五六七八九十]{1,3}\s?[、.．])\s?\S"
)
OPTION = re.compile(r"(?<![A-Za-z])([A-D])\s?[.、．:：)]\s?\S")
BLANK = re.compile(r"[(（]\s{1,}[)）]|_{3,}|＿{2,}")


def language(text: str) -> str:
    chinese = sum(is_cjk(c) for c in text)
    latin = sum(c.isascii() and c.isalpha() for c in text)
    if chinese and latin:
        return "zh" if chinese * 2 >= latin else "en" if latin >= 6 * chinese else "mixed"
    return "zh" if chinese else "en" if latin else "none"


def layout_cues(
    page: Page, rows: list[Row], fields: dict[str, Any], items: list[Item], tables: list[Table], text: str
) -> dict[str, Any]:
    """The layout facts the type rules weigh (see :data:`genserve.documents.types.TYPE_RULES`)."""
    priced = [i for i in items if i.amount is not None or i.unit_price is not None]
    numbered = [row for row in rows if NUMBERED.match(row.text) and not values.money(row.text)]
    options = {m.group(1) for row in rows for m in OPTION.finditer(row.text)}
    big = [t for t in tables if len(t.rows) >= 3 and t.n_cols >= 3]
    cells = [c for t in big for r in t.rows for c in r if c]
    numeric = [c for c in cells if re.fullmatch(r"[-+¥$€£]?\s?[\d,]+(?:\.\d+)?\s?%?", c)]
    checks = sum_check(items, fields) if items else {}
    prose = [row for row in rows if len(row.text) >= 16 and not re.search(r"\d", row.text)]
    ids = [m.group(0) for m in values.RESIDENT_ID_RE.finditer(text) if values.resident_id_valid(m.group(0))]
    aspect = page.width / max(page.height, 1)
    return {
        "line_items": {"value": len(priced) >= 2, "detail": f"{len(priced)} priced rows"},
        "total": {"value": "total" in fields, "detail": fields.get("total", {}).get("text")},
        "sum_matches": {"value": bool(checks.get("sum_matches")), "detail": checks.get("items_sum")},
        "narrow_page": {"value": page.height >= 1.5 * page.width, "detail": f"{page.width}x{page.height}"},
        "prices_without_total": {
            "value": len(priced) >= 4 and "total" not in fields and "paid" not in fields,
            "detail": f"{len(priced)} priced rows, no total",
        },
        "tax_id": "tax_id" in fields,
        "invoice_number": "invoice_number" in fields,
        "numbered_questions": {"value": len(numbered) >= 3, "detail": f"{len(numbered)} numbered lines"},
        "choice_options": {"value": len(options) >= 3, "detail": "".join(sorted(options))},
        "answer_blanks": bool(BLANK.search(text)),
        "table": {"value": bool(big), "detail": ", ".join(f"{len(t.rows)}x{t.n_cols}" for t in big)},
        "numeric_table": {
            "value": bool(cells) and len(numeric) >= 0.4 * len(cells),
            "detail": f"{len(numeric)} of {len(cells)} cells numeric",
        },
        "id_number": {"value": bool(ids), "detail": ids[0] if ids else None},
        "card_shape": {"value": 1.4 <= aspect <= 1.8 and len(rows) <= 12, "detail": f"aspect {aspect:.2f}"},
        "few_lines": {"value": 1 <= len(rows) <= 3 and not priced, "detail": f"{len(rows)} rows"},
        "prose": {
            "value": len(prose) >= 6 and len(prose) >= 0.4 * len(rows),
            "detail": f"{len(prose)} of {len(rows)} rows are sentences",
        },
    }


def understand(page: Page) -> dict[str, Any]:
    """The ``document`` of a recognized page (all weight-free rules)."""
    # 1. rows across the page (levelled), then what they say
    rows = page.rows()
    text = "\n".join(row.text for row in rows)
    fields = find_fields(page, rows)
    items = find_items(rows)
    tables = find_tables(page, rows)
    # 2. the type, from keywords and the layout facts above
    kind = classify(text, layout_cues(page, rows, fields, items, tables, text))
    # 3. items belong to receipts, invoices and menus; a menu's prices are unit prices
    if kind["type"] not in ITEM_TYPES:
        items = []
    elif kind["type"] == "menu":
        for item in items:
            if item.unit_price is None and item.quantity is None:
                item.unit_price, item.amount = item.amount, None
    checks = sum_check(items, fields) if kind["type"] in ("receipt", "invoice") else {}
    # a merchant read off the title (no label said so) only where there is a business to name
    if kind["type"] not in ITEM_TYPES and fields.get("merchant", {}).get("label") is None:
        fields.pop("merchant", None)
    return {
        **kind,
        "language": language(text),
        "fields": fields,
        "items": [i.as_dict() for i in items],
        "checks": checks,
        "tables": [t.as_dict(n) for n, t in enumerate(tables)],
    }


def tables_csv(document: dict[str, Any]) -> list[str]:
    """Each of the document's tables as CSV text, in order."""
    return [
        Table(t["rows"], t["text_blocks"], t["region"], t["source"]).csv() for t in document.get("tables", [])
    ]
