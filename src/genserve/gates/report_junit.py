"""JUnit XML: one test case per asset x check, as Jenkins (junit step) and GitLab (reports:junit) read it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from genserve.gates.judge import CheckVerdict, Judgement, Outcome
from genserve.gates.results import Results


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def write_junit(results: Results, judgement: Judgement, path: Path) -> Path:
    suite_name = results.suite.name
    root = ET.Element("testsuites", name=f"genserve gate: {suite_name}")
    by_case: dict[str, list[tuple[str, CheckVerdict, Outcome]]] = {}
    for check in judgement.checks:
        for o in check.outcomes:
            by_case.setdefault(o.case, []).append((check.id, check, o))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for case, rows in by_case.items():
        counts = {
            "tests": len(rows),
            "failures": sum(o.status == "fail" for _, _, o in rows),
            "errors": sum(o.status == "error" for _, _, o in rows),
            "skipped": sum(o.status == "skipped" for _, _, o in rows),
        }
        for k, v in counts.items():
            totals[k] += v
        attrs = {"name": f"{suite_name}.{case}"} | {k: str(v) for k, v in counts.items()}
        ts = ET.SubElement(root, "testsuite", attrs)
        for check_id, check, o in rows:
            tc = ET.SubElement(
                ts, "testcase", name=f"{check_id}[{o.asset}]", classname=f"genserve.gate.{suite_name}.{case}"
            )
            text = (
                f"value={_fmt(o.value)} baseline={_fmt(o.baseline)} delta={_fmt(o.delta)} "
                f"threshold: {check.threshold}"
            )
            if o.status == "fail":
                ET.SubElement(tc, "failure", message=o.reason or "failed", type=check.metric).text = text
            elif o.status == "error":
                ET.SubElement(tc, "error", message=o.reason or "error", type=check.metric).text = text
            elif o.status == "skipped":
                ET.SubElement(tc, "skipped", message=o.reason or "skipped")
            ET.SubElement(tc, "system-out").text = text
    for k, v in totals.items():
        root.set(k, str(v))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
