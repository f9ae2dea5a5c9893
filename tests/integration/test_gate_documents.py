"""The documents gate suite on the real OCR: the committed suite passes; a recognize backend whose
total is off by one digit, or whose date comes in another format, fails it, and the report names
field_accuracy with its numbers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from gate_plants import use_backend
from typer.testing import CliRunner

from genserve.backends.base import RunOutput
from genserve.backends.ocr import RapidOCRBackend
from genserve.cli import app

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "qa" / "suites" / "documents.yaml"


def gate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["gate", *args])
    return result.exit_code, result.output


def planted(change: Callable[[dict[str, Any]], None]) -> type[RapidOCRBackend]:
    """rapidocr whose document fields are changed after reading (a regressed "new version")."""

    class Planted(RapidOCRBackend):
        def run(self, inputs: Any, params: Any, progress: Any) -> RunOutput:
            out = super().run(inputs, params, progress)
            change(out.data["document"]["fields"])
            return out

    return Planted


def receipt_only(tmp_path: Path) -> Path:
    """The committed suite cut to its receipt (one page: a few seconds)."""
    suite = yaml.safe_load(SUITE.read_text(encoding="utf-8"))
    suite["assets"] = str(SUITE.parent / suite["assets"])
    case = suite["cases"][0]
    case["assets"] = [a for a in case["assets"] if a["id"] == "receipt-zh"]
    path = tmp_path / "receipt.yaml"
    path.write_text(yaml.safe_dump(suite, allow_unicode=True), encoding="utf-8")
    return path


def test_the_documents_suite_passes(tmp_path: Path) -> None:
    code, out = gate("run", str(SUITE), "--local", "--report-dir", str(tmp_path / "report"))
    assert code == 0, out
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    metrics = {a["id"]: a["metrics"] for c in results["cases"] for a in c["assets"]}
    assert metrics["receipt-zh"]["field_accuracy"]["value"] == 1.0
    assert metrics["receipt-zh"]["item_recall"]["value"] == 1.0
    assert metrics["invoice-en"]["field_accuracy"]["value"] == 1.0
    assert metrics["table-zh"]["table_cell_accuracy"]["value"] >= 0.9


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        (lambda f: f["total"].update(value=36.3), "36.3"),  # one digit off
        (lambda f: f["date"].update(value="2026/01/21"), "2026/01/21"),  # right day, not ISO
    ],
    ids=["total-off-by-one-digit", "date-not-iso"],
)
def test_a_planted_defect_fails_the_gate(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], shown: str
) -> None:
    with use_backend(planted(change)):
        code, out = gate("run", str(receipt_only(tmp_path)), "--local", "--report-dir", str(tmp_path / "r"))
    assert code == 9, out
    md = (tmp_path / "r" / "summary.md").read_text(encoding="utf-8")
    failing = md.split("### Failing checks")[1]
    assert "**field_accuracy**" in failing and "0.8 < min 1" in failing
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    detail = results["cases"][0]["assets"][0]["metrics"]["field_accuracy"]["detail"]
    assert shown in json.dumps(detail["wrong"], ensure_ascii=False)
