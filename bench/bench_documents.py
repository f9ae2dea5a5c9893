"""recognize as a document reader, per degradation: type, field accuracy, items, tables, CER, time.

    .venv/bin/python bench/bench_documents.py [--seeds 3] [--no-model]

Pages come from tests/document_pages.py, drawn from seeds 1000 and up (the tests use others):
Chinese and English receipts and invoices, and Chinese and English table screenshots, each clean
and degraded (rotated 5° and -3°, blurred, low contrast, JPEG quality 25, photographed in
perspective). Each page goes through run_job in-process (backend warm, labels off). Per degradation:

- **type**: share of pages given the right ``document.type``;
- **fields**: field accuracy, the share of totals and dates read exactly (the total to the cent, the
  date in ISO form), over receipts and invoices;
- **items**: item recall (name and amount both right) and the share of pages whose items add up;
- **cells**: table cell accuracy over the table screenshots;
- **CER**: character error rate of the text, read row by row (levelled), against the printed rows
  (so it measures the reading, not the order regions are read in);
- **s/page**: median seconds per page through run_job.

``--no-model`` runs without the layout model (regions from the geometry), for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import document_pages as pages  # noqa: E402
from genserve.backends import ocr as ocr_backend  # noqa: E402
from genserve.config import Settings  # noqa: E402
from genserve.documents import Page, Token  # noqa: E402
from genserve.gates.documents import cell_accuracy, item_matches  # noqa: E402
from genserve.jobs import JobRequest, run_job  # noqa: E402
from genserve.jobs.runner import BackendCache  # noqa: E402

KINDS = ("receipt_zh", "receipt_en", "invoice_zh", "invoice_en", "table_zh", "table_en")


def cer(expected: str, got: str) -> float:
    a = "".join(unicodedata.normalize("NFKC", expected).split())
    b = "".join(unicodedata.normalize("NFKC", got).split())
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] / max(len(a), 1)


def rows_text(result: dict[str, Any]) -> str:
    """The recognized blocks read row by row across the page, levelled by its skew."""
    layout = result["layout"]
    tokens = [Token(b["index"], b["text"], b["box"]) for b in result["text_blocks"]]
    page = Page(layout["width"], layout["height"], tokens, skew=layout.get("skew") or 0.0)
    return page.text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3, help="pages of each kind per degradation")
    parser.add_argument("--no-model", action="store_true", help="regions from the geometry only")
    args = parser.parse_args()
    if args.no_model:
        ocr_backend.regions_status = lambda: "the layout model is switched off for this run"  # type: ignore[assignment]
    tmp = Path(tempfile.mkdtemp(prefix="bench-documents-"))
    settings = Settings(output_dir=tmp / "out", data_dir=tmp / "data")
    cache = BackendCache(1)
    warm = tmp / "warm.png"
    pages.seed_receipt().image.save(warm)
    run_job(
        JobRequest(task="recognize", inputs={"image": warm}, params={"labels": False}),
        settings=settings,
        cache=cache,
    )
    print(f"layout regions from: {'geometry' if args.no_model else 'the layout model'}; {args.seeds} seed(s)")
    print(
        "| degradation | pages | type | fields (total, date) | item recall | items add up | table cells "
        "| CER | s/page |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    totals: dict[str, list[float]] = {}
    for degradation, degrade in pages.DEGRADATIONS.items():
        stats: dict[str, list[float]] = {
            k: [] for k in ("type", "fields", "items", "adds", "cells", "cer", "s")
        }
        for kind in KINDS:
            for n in range(args.seeds):
                doc = pages.GENERATORS[kind](1000 + 17 * n + KINDS.index(kind))
                path = tmp / f"{kind}-{n}.png"
                degrade(doc.image).save(path)
                start = time.perf_counter()
                job = run_job(
                    JobRequest(task="recognize", inputs={"image": path}, params={"labels": False}),
                    settings=settings,
                    cache=cache,
                )
                stats["s"].append(time.perf_counter() - start)
                result = job.model_dump(mode="json")
                document = result["document"]
                fields = {k: v.get("value") for k, v in document.get("fields", {}).items()}
                stats["type"].append(float(document.get("type") == doc.expect["type"]))
                stats["cer"].append(cer(doc.text, rows_text(result)))
                if "total" in doc.expect:
                    stats["fields"].append(float(fields.get("total") == doc.expect["total"]))
                    stats["fields"].append(float(fields.get("date") == doc.expect["date"]))
                    found = item_matches(
                        [{"name": i["name"], "amount": i["amount"]} for i in doc.expect["items"]],
                        document.get("items") or [],
                    )
                    stats["items"].extend(float(f) for f in found)
                    stats["adds"].append(float(bool(document.get("checks", {}).get("sum_matches"))))
                if "table" in doc.expect:
                    best = max(
                        (cell_accuracy(doc.expect["table"], t["rows"]) for t in document.get("tables") or []),
                        default=0.0,
                    )
                    stats["cells"].append(best)
        for key, values in stats.items():
            totals.setdefault(key, []).extend(values)
        print(row(degradation, stats))
    print(row("**all**", totals))


def row(name: str, stats: dict[str, list[float]]) -> str:
    def pct(key: str) -> str:
        return f"{100 * statistics.fmean(stats[key]):.0f} %" if stats[key] else "-"

    cer_pct = 100 * statistics.fmean(stats["cer"])
    return (
        f"| {name} | {len(stats['type'])} | {pct('type')} | {pct('fields')} | {pct('items')} | {pct('adds')} "
        f"| {pct('cells')} | {cer_pct:.1f} % | {statistics.median(stats['s']):.2f} |"
    )


if __name__ == "__main__":
    main()
