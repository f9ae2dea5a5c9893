"""One file per figure (``duration_error``, ``inference_time``, ``peak_gpu_memory``, ...), the way
Tekton task results are written to ``$(results.<name>.path)``."""

from __future__ import annotations

import re
from pathlib import Path

from genserve.gates.judge import Judgement
from genserve.gates.registry import Direction, all_metrics
from genserve.gates.results import Results


def figures(results: Results) -> dict[str, str]:
    """Each measured metric's worst value over all assets (its value if set-level); 'skipped' if none."""
    metrics = all_metrics()
    seen: dict[str, list[float]] = {}
    for case in results.cases:
        rows = [a.metrics for a in case.assets] + [case.case_metrics]
        for row in rows:
            for name, m in row.items():
                seen.setdefault(name, [])
                if m.status == "ok" and m.value is not None:
                    seen[name].append(float(m.value))
    out = {}
    for name, values in seen.items():
        direction = metrics[name].direction if name in metrics else Direction.INFO
        if not values:
            out[name] = "skipped"
            continue
        worst = min(values) if direction is Direction.HIGHER else max(values)
        out[name] = f"{worst:.6g}"
    return out


def write_results_dir(results: Results, judgement: Judgement | None, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    values = figures(results)
    if judgement is not None:
        values["gate_status"] = judgement.status
        values["failed_checks"] = ",".join(c.id for c in judgement.failed) or "none"
    written = []
    for name, value in values.items():
        path = directory / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        path.write_text(value)  # NOTE: no trailing newline: Tekton results are compared as exact strings
        written.append(path)
    return written
