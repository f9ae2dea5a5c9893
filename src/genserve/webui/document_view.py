"""A recognize result's ``document`` for people: its type, its fields and its items as tables.

Shown in the recognize tab above the raw JSON, in the page's language (words from the catalogues;
values as they were read).
"""

from __future__ import annotations

from typing import Any

from genserve.webui.i18n import N_, Translator
from genserve.webui.render import ENGLISH, result_items

TYPE_NAMES = {
    "receipt": N_("Receipt"),
    "invoice": N_("Invoice"),
    "menu": N_("Menu"),
    "exam_paper": N_("Exam paper"),
    "table": N_("Table or spreadsheet"),
    "id_card": N_("ID card"),
    "sign": N_("Sign or scene"),
    "other": N_("Other"),
}
FIELD_NAMES = {
    "total": N_("Total"),
    "subtotal": N_("Subtotal"),
    "tax": N_("Tax"),
    "discount": N_("Discount"),
    "tip": N_("Tip"),
    "paid": N_("Paid"),
    "change": N_("Change"),
    "date": N_("Date"),
    "time": N_("Time"),
    "datetime": N_("Date and time"),
    "due_date": N_("Due date"),
    "invoice_code": N_("Invoice code"),
    "invoice_number": N_("Invoice number"),
    "receipt_number": N_("Receipt number"),
    "tax_id": N_("Tax ID"),
    "phone": N_("Phone"),
    "merchant": N_("Merchant"),
    "buyer": N_("Buyer"),
}


def _cell(value: Any) -> str:
    """A value in a Markdown table cell: pipes escaped, one line."""
    if value is None:
        return ""
    if isinstance(value, float):
        value = f"{value:.2f}" if round(value, 2) == value else str(value)
    return " ".join(str(value).split()).replace("|", "\\|")


def _field_value(field: dict[str, Any]) -> str:
    value = _cell(field.get("value"))
    return f"{value} {field['currency']}" if field.get("currency") else value


def document_markdown(result: dict[str, Any], t: Translator = ENGLISH) -> str:
    """Markdown for each image's document: type and score, fields, items, the sum check, tables."""
    parts = []
    items = result_items(result)
    for item in items:
        document = item.get("document") or {}
        if not document:
            continue
        lines = []
        if len(items) > 1:
            lines.append(f"#### {_cell(item.get('image_path')) or t('image')}")
        kind = TYPE_NAMES.get(document.get("type", ""), document.get("type", ""))
        lines.append(t("**{type}** (score {score})", type=t(kind), score=document.get("score")))
        fields = document.get("fields") or {}
        if fields:
            lines += ["", f"| {t('Field')} | {t('Value')} | {t('Read from')} |", "| --- | --- | --- |"]
            for name, field in fields.items():
                label = t(FIELD_NAMES[name]) if name in FIELD_NAMES else name
                lines.append(f"| {_cell(label)} | {_field_value(field)} | {_cell(field.get('text'))} |")
        rows = document.get("items") or []
        if rows:
            lines += [
                "",
                f"| {t('Item')} | {t('Quantity')} | {t('Unit price')} | {t('Amount')} |",
                "| --- | ---: | ---: | ---: |",
            ]
            for row in rows:
                cells = [row.get(k) for k in ("name", "quantity", "unit_price", "amount")]
                lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        checks = document.get("checks") or {}
        if checks.get("sum_matches") is not None:
            target = FIELD_NAMES.get(checks.get("compared_with", "total"), N_("Total"))
            verdict = t("yes") if checks["sum_matches"] else t("no")
            lines += [
                "",
                t(
                    "Items add up to the {target}: {verdict} ({sum})",
                    target=t(target).lower() if t.english else t(target),
                    verdict=verdict,
                    sum=_cell(checks.get("items_sum")),
                ),
            ]
        tables = document.get("tables") or []
        if tables:
            names = ", ".join(
                f"{_cell(tb.get('csv') or tb.get('index'))} ({tb.get('n_rows')} × {tb.get('n_cols')})"
                for tb in tables
            )
            lines += ["", t("Tables (CSV beside the result): {names}", names=names)]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
