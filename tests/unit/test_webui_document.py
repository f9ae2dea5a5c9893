"""The recognize tab's document view: type, fields and items as Markdown tables, in both languages."""

from __future__ import annotations

import pytest

from genserve.webui.document_view import document_markdown
from genserve.webui.i18n import Translator

RESULT = {
    "image_path": "receipt.png",
    "document": {
        "type": "receipt",
        "score": 0.7,
        "fields": {
            "total": {"value": 36.8, "currency": "CNY", "text": "合计 ¥36.80"},
            "date": {"value": "2026-01-21", "text": "日期 2026-01-21"},
            "merchant": {"value": "华联|超市", "text": "华联|超市"},
        },
        "items": [
            {"name": "苹果", "quantity": 1, "unit_price": 8.5, "amount": 8.5},
            {"name": "牛奶", "quantity": None, "unit_price": None, "amount": 28.3},
        ],
        "checks": {"items_sum": 36.8, "compared_with": "total", "sum_matches": True},
        "tables": [{"index": 0, "csv": "table-0.csv", "n_rows": 11, "n_cols": 4}],
    },
}


def test_english() -> None:
    md = document_markdown(RESULT)
    assert md.startswith("**Receipt** (score 0.7)")
    assert "| Total | 36.80 CNY | 合计 ¥36.80 |" in md
    assert "| Date | 2026-01-21 | 日期 2026-01-21 |" in md
    assert "| Merchant | 华联\\|超市 |" in md  # a pipe in a value does not break the table
    assert "| 苹果 | 1 | 8.50 | 8.50 |" in md and "| 牛奶 |  |  | 28.30 |" in md
    assert "Items add up to the total: yes (36.80)" in md
    assert "table-0.csv (11 × 4)" in md


def test_chinese() -> None:
    pytest.importorskip("babel")
    md = document_markdown(RESULT, Translator("zh-CN"))
    assert md.startswith("**小票**（得分 0.7）")
    assert "| 合计 | 36.80 CNY |" in md and "明细之和等于合计：是（36.80）" in md


def test_a_batch_names_each_image_and_a_page_without_a_document_shows_nothing() -> None:
    batch = {"items": [RESULT, {**RESULT, "image_path": "second.png", "document": {}}], **RESULT}
    md = document_markdown(batch)
    assert md.startswith("#### receipt.png") and "second.png" not in md
    assert document_markdown({"document": {}}) == ""
