"""results.json: the measurements (source of truth) with the judgement made from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from genserve.errors import InvalidInput, NotFound
from genserve.gates.judge import Judgement
from genserve.gates.results import RESULTS_SCHEMA, Results


def report_document(results: Results, judgement: Judgement | None) -> dict[str, Any]:
    """results.json as written: the results document, and the judgement under ``judgement``."""
    doc = results.to_json()
    if judgement is not None:
        doc["judgement"] = judgement.model_dump(mode="json")
    return doc


def write_results(results: Results, judgement: Judgement | None, report_dir: Path) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    doc = report_document(results, judgement)
    path = report_dir / "results.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def load_results(path: str | Path) -> Results:
    """The results document in PATH (a results.json or its report dir); its judgement is left out."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise NotFound(
            "results file does not exist",
            argument="RESULTS",
            value=str(path),
            fix="pass the results.json (or report dir) written by `genserve gate run`",
        )
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"is not JSON ({exc.msg})", argument="RESULTS", value=str(path)) from None
    if not isinstance(doc, dict) or doc.get("schema") != RESULTS_SCHEMA:
        raise InvalidInput(
            f"is not a genserve gate results file (schema {RESULTS_SCHEMA})",
            argument="RESULTS",
            value=str(path),
            fix="pass the results.json written by `genserve gate run`",
        )
    try:
        return Results.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(
            f"is not a genserve gate results file ({where}: {err['msg']})",
            argument="RESULTS",
            value=str(path),
            fix="pass the results.json written by `genserve gate run`",
        ) from None
