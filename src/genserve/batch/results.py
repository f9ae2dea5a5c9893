"""A batch's results, written to its output folder after every run (a rerun rewrites them):

results.jsonl   one JSON object per row, in the manifest's order
results.csv     the same, flat (outputs as name:sha256, paths separated by ';')
junit.xml       one test case per row: failed and canceled rows fail, rows not run are skipped
summary.md      counts and failures (for $GITHUB_STEP_SUMMARY); every row up to SUMMARY_ROWS
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from genserve.batch.board import Board, RowState

RESULTS_SCHEMA = "genserve.batch.results/1"
CSV_COLUMNS = (
    "row",
    "line",
    "task",
    "backend",
    "job_id",
    "attempt",
    "status",
    "outputs",
    "paths",
    "duration_sec",
    "error",
    "message",
)
SUMMARY_ROWS = 100


def row_record(state: RowState, batch_id: str) -> dict[str, Any]:
    row, result = state.row, state.result
    return {
        "schema": RESULTS_SCHEMA,
        "batch": batch_id,
        "row": row.id,
        "line": row.line,
        "task": row.task,
        "backend": result.get("backend") or (state.job or {}).get("backend") or row.backend,
        "job_id": state.job_id,
        "attempt": state.attempt or None,
        "status": state.status,
        "outputs": state.outputs,
        "duration_sec": state.duration_sec,
        "error": state.error,
        "message": state.message,
        "earlier_run": state.earlier,
        "inputs": row.given_inputs,
        "params": row.params,
        "prompt_template": row.prompt,
    }


def write_results(board: Board, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [row_record(s, board.batch_id) for s in board.states]
    paths = {
        "jsonl": out_dir / "results.jsonl",
        "csv": out_dir / "results.csv",
        "junit": out_dir / "junit.xml",
        "summary": out_dir / "summary.md",
    }
    _atomic(paths["jsonl"], "".join(json.dumps(r, default=str) + "\n" for r in records))
    _write_csv(records, paths["csv"])
    _write_junit(board, records, paths["junit"])
    _atomic(paths["summary"], render_summary(board, records))
    return paths


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _write_csv(records: list[dict[str, Any]], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for r in records:
            outputs = ";".join(f"{o['name']}:{o['sha256']}" for o in r["outputs"])
            paths = ";".join(o["path"] for o in r["outputs"])
            writer.writerow(
                [
                    r["row"],
                    r["line"],
                    r["task"],
                    r["backend"] or "",
                    r["job_id"] or "",
                    r["attempt"] or "",
                    r["status"],
                    outputs,
                    paths,
                    "" if r["duration_sec"] is None else r["duration_sec"],
                    r["error"] or "",
                    r["message"] or "",
                ]
            )
    tmp.replace(path)


def _write_junit(board: Board, records: list[dict[str, Any]], path: Path) -> None:
    failed = sum(r["status"] in ("failed", "canceled") for r in records)
    skipped = sum(r["status"] not in ("succeeded", "failed", "canceled") for r in records)
    attrs = {"tests": str(len(records)), "failures": str(failed), "errors": "0", "skipped": str(skipped)}
    root = ET.Element("testsuites", {"name": f"genserve batch: {board.batch_id}", **attrs})
    suite = ET.SubElement(
        root, "testsuite", {"name": board.batch_id, **attrs, "time": f"{board.elapsed():.3f}"}
    )
    for r in records:
        case = ET.SubElement(
            suite,
            "testcase",
            name=r["row"],
            classname=f"genserve.batch.{board.batch_id}.{r['task']}",
            time=f"{r['duration_sec'] or 0:.3f}",
        )
        detail = f"line {r['line']}; job {r['job_id'] or '-'} (attempt {r['attempt'] or '-'})"
        if r["status"] in ("failed", "canceled"):
            message = f"{r['status']}: {r['message'] or r['error'] or 'no message'}"
            ET.SubElement(case, "failure", message=message, type=r["error"] or r["status"]).text = detail
        elif r["status"] != "succeeded":
            ET.SubElement(case, "skipped", message=f"{r['status'].replace('_', ' ')}: {detail}")
        outputs = "\n".join(f"{o['path']} sha256={o['sha256']}" for o in r["outputs"])
        ET.SubElement(case, "system-out").text = f"{detail}\n{outputs}".strip()
    ET.indent(root)
    tmp = path.with_name(path.name + ".tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def render_summary(board: Board, records: list[dict[str, Any]]) -> str:
    counts = board.counts()
    ok = counts.get("succeeded", 0)
    lines = [
        f"## genserve batch `{board.batch_id}`: {ok}/{board.total} succeeded",
        "",
        "| state | rows |",
        "| --- | ---: |",
        *(f"| {state.replace('_', ' ')} | {n} |" for state, n in counts.items()),
        "",
    ]
    failures = [r for r in records if r["status"] in ("failed", "canceled")]
    if failures:
        lines += [
            "### Failures",
            "",
            "| row | line | job | error | message |",
            "| --- | ---: | --- | --- | --- |",
        ]
        for r in failures:
            cells = [
                _cell(r["row"]),
                str(r["line"]),
                _cell(r["job_id"]),
                _cell(r["error"]),
                _cell(r["message"]),
            ]
            lines.append(f"| {' | '.join(cells)} |")
        lines.append("")
    shown = records[:SUMMARY_ROWS]
    lines += [
        "### Rows",
        "",
        "| row | task | status | duration (s) | outputs |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for r in shown:
        duration = "" if r["duration_sec"] is None else f"{r['duration_sec']:.2f}"
        outputs = ", ".join(f"`{o['path']}`" for o in r["outputs"])
        lines.append(f"| {_cell(r['row'])} | {r['task']} | {r['status']} | {duration} | {outputs} |")
    if len(records) > len(shown):
        lines.append(f"\n{len(records) - len(shown)} more rows in results.csv.")
    lines.append("")
    return "\n".join(lines)
