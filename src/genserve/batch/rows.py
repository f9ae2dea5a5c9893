"""Validating a manifest: every row against every rule, before anything is submitted.

Each broken rule becomes a :class:`Problem` with the row's line number; a manifest with any problem
raises :class:`ManifestInvalid` holding all of them (exit 2, nothing submitted). A valid row
becomes a :class:`BatchRow`: its files resolved, its parameters checked by the task's own Params
model (CSV's strings converted to numbers and flags), the prompt template rendered, and the digests
its ids are made of.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genserve.batch import ids
from genserve.batch.catalog import BackendCatalog
from genserve.batch.manifest import ROW_KEYS, Manifest, RawRow
from genserve.batch.row_inputs import InputFiles, check_inputs
from genserve.batch.row_params import Prompts, check_params, render_template
from genserve.config import Settings
from genserve.errors import GenserveError, InvalidInput, NotFound
from genserve.jobs.request import build_inputs
from genserve.tasks import TASKS, TaskSpec

__all__ = ["BackendCatalog", "BatchRow", "ManifestInvalid", "Problem", "validate_manifest"]

ROW_FIX = "a row takes id, task, backend, inputs, params and prompt_template (see README: Batches)"


@dataclass
class BatchRow:
    line: int
    id: str
    task: str
    backend: str | None
    inputs: dict[str, list[Path]]  # input name -> files (absolute)
    params: dict[str, Any]  # as given, typed by the task's Params model; the rendered prompt included
    fingerprint: str  # digest of what the job is made of: task, backend, params, input bytes
    prompt: dict[str, Any] | None = None  # the template's record (name, version, sha256, git facts)
    given_inputs: dict[str, list[str]] = field(default_factory=dict)  # paths as the manifest writes them

    def job_id(self, batch_id: str, attempt: int = 1) -> str:
        return ids.job_id(batch_id, self.id, self.fingerprint, attempt)

    def files(self) -> dict[str, str | Path | list[str | Path]]:
        """The inputs in the shape genserve.Client.submit takes."""
        return {k: list(v) if len(v) > 1 else v[0] for k, v in self.inputs.items()}


@dataclass
class Problem:
    line: int
    error: GenserveError

    def describe(self, manifest: str) -> str:
        return f"{manifest}:{self.line}: {self.error.message}"


class ManifestInvalid(InvalidInput):
    """A manifest with broken rows (exit 2); ``problems`` names every one."""

    def __init__(self, manifest: Path, problems: list[Problem]) -> None:
        self.manifest = manifest
        self.problems = sorted(problems, key=lambda p: p.line)
        lines = sorted({p.line for p in self.problems})
        shown = ", ".join(str(n) for n in lines[:20]) + (", ..." if len(lines) > 20 else "")
        super().__init__(
            f"{len(lines)} bad row{'s' if len(lines) != 1 else ''} (line{'s' if len(lines) != 1 else ''} "
            f"{shown}); nothing was submitted",
            argument=manifest.name,
            fix="correct the rows named below and run again",
        )

    def lines(self) -> list[str]:
        return [p.describe(self.manifest.name) for p in self.problems]


def validate_manifest(manifest: Manifest, catalog: BackendCatalog, settings: Settings) -> list[BatchRow]:
    """Every row checked; the BatchRows, or ManifestInvalid naming every problem of every row."""
    files, prompts = InputFiles(settings), Prompts()
    problems: list[Problem] = []
    rows: list[BatchRow] = []
    for raw in manifest.rows:
        found: list[GenserveError] = []
        row = _validate_row(raw, manifest.base, catalog, files, prompts, found)
        problems += [Problem(raw.line, exc) for exc in found]
        if row is not None and not found:
            rows.append(row)
    problems += _duplicates(rows, manifest.rows)
    if problems:
        raise ManifestInvalid(manifest.path, problems)
    return rows


def _validate_row(
    raw: RawRow,
    base: Path,
    catalog: BackendCatalog,
    files: InputFiles,
    prompts: Prompts,
    found: list[GenserveError],
) -> BatchRow | None:
    if raw.error is not None:
        found.append(InvalidInput(raw.error, argument="row", fix=ROW_FIX))
        return None
    data = raw.data
    for key in data:
        if key not in ROW_KEYS:
            fix = "put task parameters under params and files under inputs"
            found.append(InvalidInput("is not a row field", argument=str(key), fix=f"{fix}; {ROW_FIX}"))
    # 1. id, task, backend
    row_id = _row_id(data.get("id"), found)
    spec = _task(data.get("task"), found)
    backend = data.get("backend")
    if backend is not None and not isinstance(backend, str):
        found.append(InvalidInput("must be a backend name", argument="backend", value=backend))
        backend = None
    if spec is None:
        return None
    problem = catalog.check(spec.name, backend)
    if problem is not None:
        found.append(problem)
    # 2. input files: declared, present, as many as allowed, decodable
    inputs, given = check_inputs(data.get("inputs"), spec, base, files, found)
    # 3. parameters, with the rendered prompt template
    params = data.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        found.append(
            InvalidInput("must be a mapping of parameter names to values", argument="params", value=params)
        )
        return None
    params = {str(k): v for k, v in params.items()}
    template, record = data.get("prompt_template"), None
    template_sha = None
    if template is not None:
        rendered = render_template(template, params, spec, base, prompts, found)
        if rendered is not None:
            params["prompt"], record = rendered
            template_sha = record["sha256"]
    typed = check_params(spec, params, found)
    if found or typed is None:
        return None
    # 4. rules across inputs and parameters (e.g. talking-head's duration against the audio)
    if spec.check is not None:
        try:
            decoded: dict[str, Any] = {}
            for m in spec.inputs:
                got = [files.decode(p, m.kind, f"inputs.{m.name}") for p in inputs.get(m.name, [])]
                if m.multiple:
                    decoded[m.name] = got
                elif got:
                    decoded[m.name] = got[0]
            names = {k: [p.name for p in v] for k, v in inputs.items()}
            spec.check(build_inputs(spec, inputs, names, decoded), spec.params_model(**typed))
        except GenserveError as exc:
            found.append(exc)
            return None
    # 5. ids
    digests = {k: [files.sha256(p) for p in v] for k, v in sorted(inputs.items())}
    made_of = {"task": spec.name, "backend": backend, "params": typed, "inputs": digests}
    if row_id is None:
        own = {**made_of, "params": {k: v for k, v in typed.items() if not (record and k == "prompt")}}
        first = next(iter(inputs.values()), [None])[0]
        row_id = ids.derived_row_id(first, {**own, "prompt_template": template_sha})
    return BatchRow(
        line=raw.line,
        id=row_id,
        task=spec.name,
        backend=backend,
        inputs=inputs,
        params=typed,
        fingerprint=ids.digest(made_of),
        prompt=record,
        given_inputs=given,
    )


def _row_id(value: Any, found: list[GenserveError]) -> str | None:
    if value is None:
        return None
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    if text is None or not ids.ROW_ID_RE.match(text):
        found.append(
            InvalidInput(
                "must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit",
                argument="id",
                value=value,
                fix="e.g. hero-shot-01, or leave id out to derive one from the row",
            )
        )
        return None
    if text.lower() in ids.REPORT_NAMES:
        found.append(
            InvalidInput(
                "is the name of a report file in the output folder",
                argument="id",
                value=text,
                fix="choose another id",
            )
        )
        return None
    return text


def _task(value: Any, found: list[GenserveError]) -> TaskSpec | None:
    if value is None or value == "":
        found.append(InvalidInput("is required", argument="task", fix=f"use one of: {', '.join(TASKS)}"))
        return None
    spec = TASKS.get(value) if isinstance(value, str) else None
    if spec is None:
        found.append(
            NotFound("unknown task", argument="task", value=value, fix=f"use one of: {', '.join(TASKS)}")
        )
    return spec


def _duplicates(rows: list[BatchRow], raws: list[RawRow]) -> list[Problem]:
    """Two rows with one id are a problem to fix (ids compare case-blind: they name folders). Ids
    written in the manifest are compared on every row; ids derived from content on valid rows."""
    named: list[tuple[int, str, bool]] = []
    for raw in raws:
        value = raw.data.get("id")
        if isinstance(value, int | str) and not isinstance(value, bool) and ids.ROW_ID_RE.match(str(value)):
            named.append((raw.line, str(value), True))
    explicit = {line for line, _, _ in named}
    named += [(row.line, row.id, False) for row in rows if row.line not in explicit]
    first: dict[str, int] = {}
    problems = []
    for line, row_id, given in sorted(named):
        other = first.setdefault(row_id.lower(), line)
        if other == line:
            continue
        if given:
            error = InvalidInput(
                f"is also the id of line {other}",
                argument="id",
                value=row_id,
                fix="give every row its own id",
            )
        else:
            error = InvalidInput(
                f"repeats line {other} (the same task, backend, inputs and parameters)",
                argument="row",
                fix="remove the repeat, or give both rows an id (each becomes its own job)",
            )
        problems.append(Problem(line, error))
    return problems
