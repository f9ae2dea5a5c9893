"""Document gate metrics on results: exact fields, item recall, table cells; planted defects bite."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from gate_media import context

from genserve.gates.measure import measure_asset

RESULT: dict[str, Any] = {
    "document": {
        "type": "receipt",
        "fields": {
            "total": {"value": 36.8, "type": "amount", "currency": "CNY"},
            "date": {"value": "2026-01-21", "type": "date"},
        },
        "items": [
            {"name": "苹果", "quantity": 1, "unit_price": 8.5, "amount": 8.5},
            {"name": "牛奶", "quantity": 1, "unit_price": 12.0, "amount": 12.0},
            {"name": "Green  Tea", "quantity": 2, "unit_price": 8.15, "amount": 16.3},
        ],
        "tables": [{"rows": [["季度", "收入"], ["Q1", "31,490"], ["04", "50,830"]]}],
    }
}
EXPECTED = {
    "document": {
        "type": "receipt",
        "fields": {"total": 36.8, "date": "2026-01-21"},
        "items": [
            {"name": "苹果", "amount": 8.5},
            {"name": "牛奶", "amount": 12.0},
            {"name": "green tea", "quantity": 2, "amount": 16.3},
        ],
        "table": [["季度", "收入"], ["Q1", "31,490"], ["Q4", "50,830"]],
    }
}
METRICS = ["field_accuracy", "item_recall", "table_cell_accuracy"]


def measure(tmp_path: Path, result: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    ctx = context(tmp_path, None, task="recognize", result=result)  # type: ignore[arg-type]
    ctx.expected = expected
    return measure_asset(ctx, METRICS)


def test_a_right_reading_scores_one(tmp_path: Path) -> None:
    m = measure(tmp_path, RESULT, EXPECTED)
    assert m["field_accuracy"].value == 1.0 and m["item_recall"].value == 1.0
    assert m["table_cell_accuracy"].value == pytest.approx(5 / 6)  # "Q4" read as "04"


def test_a_total_changed_by_one_digit_is_a_miss(tmp_path: Path) -> None:
    planted = copy.deepcopy(RESULT)
    planted["document"]["fields"]["total"]["value"] = 36.3
    m = measure(tmp_path, planted, EXPECTED)
    assert m["field_accuracy"].value == pytest.approx(2 / 3)  # type and date right, total wrong
    assert m["field_accuracy"].detail["wrong"] == {"total": 36.3}


@pytest.mark.parametrize("date", ["2026/01/21", "21/01/2026", "2026年1月21日", None])
def test_a_date_in_another_format_is_a_miss(tmp_path: Path, date: str | None) -> None:
    planted = copy.deepcopy(RESULT)
    planted["document"]["fields"]["date"]["value"] = date
    assert measure(tmp_path, planted, EXPECTED)["field_accuracy"].value == pytest.approx(2 / 3)


def test_an_item_with_another_amount_or_a_wrong_type_is_a_miss(tmp_path: Path) -> None:
    planted = copy.deepcopy(RESULT)
    planted["document"]["items"][1]["amount"] = 13.0
    planted["document"]["type"] = "invoice"
    m = measure(tmp_path, planted, EXPECTED)
    assert m["item_recall"].value == pytest.approx(2 / 3) and m["item_recall"].detail["missing"] == ["牛奶"]
    assert m["field_accuracy"].value == pytest.approx(2 / 3)


def test_without_expectations_the_metrics_are_skipped(tmp_path: Path) -> None:
    m = measure(tmp_path, RESULT, {"text": "x"})
    assert all(m[name].status == "skipped" for name in METRICS)
    assert "expect: {document" in (m["field_accuracy"].reason or "")
    no_tables = copy.deepcopy(RESULT)
    no_tables["document"]["tables"] = []
    assert measure(tmp_path, no_tables, EXPECTED)["table_cell_accuracy"].value == 0.0
