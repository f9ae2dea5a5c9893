"""Reading a manifest: JSONL, CSV or YAML, one job per row, each row with its line number.

    {"id": "hero", "task": "image-to-video", "inputs": {"image": "hero.png"}, "params": {"prompt": "pan"}}

    id,task,backend,image,prompt,num_frames          # CSV: a column per input the row's task
    hero,image-to-video,camera,hero.png,slow pan,16       # takes; any other column is a parameter

    - id: hero                                        # YAML: a list of rows (or {rows: [...]})
      task: image-to-video
      inputs: {image: img/hero.png}
      params: {prompt: slow pan}

Rows come out in one shape, ``{id, task, backend, inputs, params, prompt_template}``; what they mean
(known task, files present, valid parameters) is checked in :mod:`genserve.batch.rows`. A line that
cannot be read at all is kept as a row whose ``error`` says why, so every bad line is reported.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genserve.errors import InvalidInput, NotFound

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".yaml": "yaml", ".yml": "yaml"}
ROW_KEYS = ("id", "task", "backend", "inputs", "params", "prompt_template")
CSV_LIST_SEPARATOR = ";"  # several files for one input in one CSV cell: a.png;b.png
MAX_MANIFEST_BYTES = 50 * 1024 * 1024


@dataclass
class RawRow:
    line: int
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the line could not be read as a row


@dataclass
class Manifest:
    path: Path
    format: str
    rows: list[RawRow]

    @property
    def base(self) -> Path:
        """Input paths are relative to the manifest's folder."""
        return self.path.parent


def read_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    if not path.is_file():
        raise NotFound(
            "manifest file does not exist", argument="MANIFEST", value=str(path), fix="check the path"
        )
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InvalidInput(
            "is not a manifest format genserve reads",
            argument="MANIFEST",
            value=path.name,
            fix="name it .jsonl (one JSON object per line), .csv or .yaml",
        )
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise InvalidInput(
            f"is larger than {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB",
            argument="MANIFEST",
            value=path.name,
            fix="split it into several manifests",
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"is not UTF-8 text (byte {exc.start})",
            argument="MANIFEST",
            value=path.name,
            fix="save it as UTF-8",
        ) from None
    rows = {"jsonl": _jsonl_rows, "csv": _csv_rows, "yaml": _yaml_rows}[kind](text, path)
    if not rows:
        raise InvalidInput(
            "has no rows",
            argument="MANIFEST",
            value=path.name,
            fix="add one job per row (see README: Batches)",
        )
    return Manifest(path=path.resolve(), format=kind, rows=rows)


def _jsonl_rows(text: str, path: Path) -> list[RawRow]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(RawRow(number, error=f"is not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(data, dict):
            rows.append(RawRow(number, error=f"must be a JSON object, not {type(data).__name__}"))
            continue
        rows.append(RawRow(number, data))
    return rows


def _csv_rows(text: str, path: Path) -> list[RawRow]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise InvalidInput(
            f"has an unreadable header ({exc})", argument=path.name, fix="fix the CSV"
        ) from None
    names = [h.strip() for h in header]
    missing = [n for n in ("task",) if n not in names]
    if missing:
        raise InvalidInput(
            "has no task column",
            argument=f"{path.name}: header",
            value=header,
            fix="start it with a header such as id,task,backend,image,prompt",
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(
            "names a column twice", argument=f"{path.name}: header", value=dupes, fix="keep one column each"
        )
    rows = []
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append(RawRow(start, error=f"is not valid CSV ({exc})"))
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            rows.append(RawRow(line, error=f"has {len(cells)} cells, the header {len(names)}"))
            continue
        rows.append(RawRow(line, _csv_row(dict(zip(names, cells, strict=True)))))
    return rows


def _input_names(task: str) -> set[str]:
    """The input names of ``task`` (of every registered task when it is not one): those columns are
    files."""
    from genserve.tasks import TASKS

    specs = [TASKS[task]] if task in TASKS else list(TASKS.values())
    return {media.name for spec in specs for media in spec.inputs}


def _csv_row(cells: dict[str, str]) -> dict[str, Any]:
    """A CSV row in the common shape; an empty cell means "not given" (the default)."""
    data: dict[str, Any] = {"inputs": {}, "params": {}}
    inputs = _input_names(cells.get("task", "").strip())
    for name, raw in cells.items():
        value = raw.strip()
        if value == "":
            continue
        if name in ("id", "task", "backend", "prompt_template"):
            data[name] = value
        elif name in inputs:
            parts = [p.strip() for p in value.split(CSV_LIST_SEPARATOR) if p.strip()]
            data["inputs"][name] = parts if len(parts) > 1 else parts[0]
        else:
            data["params"][name] = None if value.lower() in ("none", "null") else value
    return data


def _yaml_rows(text: str, path: Path) -> list[RawRow]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(
            f"is not valid YAML{where} ({type(exc).__name__})", argument=path.name, fix="fix the YAML syntax"
        ) from None
    finally:
        loader.dispose()
    if node is None:
        return []
    items = node
    if isinstance(data, dict) and isinstance(node, yaml.MappingNode):
        found = [(k, v) for k, v in node.value if getattr(k, "value", None) == "rows"]
        if not found or set(data) != {"rows"}:
            raise InvalidInput(
                "must be a list of rows, or a mapping with only rows: [...]",
                argument=path.name,
                value=sorted(data),
                fix="write one '- task: ...' item per job",
            )
        items, data = found[0][1], data["rows"]
    if not isinstance(data, list) or not isinstance(items, yaml.SequenceNode):
        raise InvalidInput(
            "must be a list of rows", argument=path.name, fix="write one '- task: ...' item per job"
        )
    rows = []
    for item, value in zip(items.value, data, strict=True):
        line = item.start_mark.line + 1
        if not isinstance(value, dict):
            rows.append(
                RawRow(line, error=f"must be a mapping (task: ..., inputs: ...), not {type(value).__name__}")
            )
        else:
            rows.append(RawRow(line, value))
    return rows
