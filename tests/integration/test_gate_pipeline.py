"""The gate's pipeline called from Python, without the CLI: run_gate generates with the real camera
backend, measures, judges and writes every report; the results come back typed and results.json
keeps the keys pipelines read; a regressed backend fails against the baseline it wrote; stored
results are judged again; a failed job refuses to become a baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from gate_plants import FrozenSecondHalfCamera, use_backend

from genserve.errors import InvalidInput, NotFound
from genserve.gates.ci_notify import read_verdict
from genserve.gates.pipeline import judge_again, run_gate
from genserve.gates.registry import Measurement
from genserve.gates.report_json import load_results
from genserve.gates.results import JOB_KEYS, Results

ASSETS = Path(__file__).resolve().parents[2] / "qa" / "assets"
CHECKS = [
    {"metric": "codec_ok", "min": 1},
    {"metric": "frozen_fraction", "max": 0.25},
    {"metric": "flicker", "tolerance": {"relative": 0.02}},
]


def write_suite(path: Path, params: dict[str, object], checks: list[dict[str, object]] = CHECKS) -> Path:
    suite = {
        "name": "pipeline",
        "assets": str(ASSETS),
        "cases": [
            {
                "name": "zoom",
                "task": "image-to-video",
                "backend": "camera",
                "params": params,
                "assets": [{"id": "sample", "image": "images/sample.jpg"}],
            }
        ],
        "checks": checks,
    }
    path.write_text(yaml.safe_dump(suite))
    return path


SMALL = {"resolution": "256p", "num_frames": 16, "fps": 8, "motion": "zoom_in"}


@pytest.fixture(scope="module")
def baselined(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A run that writes its own baseline: (suite, baseline, report dir)."""
    root = tmp_path_factory.mktemp("pipeline")
    suite = write_suite(root / "suite.yaml", SMALL)
    baseline = root / "baseline.json"
    gate = run_gate(suite, report_dir=root / "report", baseline=baseline, update_baseline=True)
    assert gate.baseline_written == baseline and baseline.is_file()
    assert gate.exit_code == 0, gate.judgement
    return suite, baseline, root / "report"


def test_run_gate_returns_typed_results_and_writes_the_reports(baselined: tuple[Path, Path, Path]) -> None:
    report = baselined[2]
    results = load_results(report)
    assert isinstance(results, Results)
    asset = results.cases[0].assets[0]
    assert asset.job.succeeded and asset.job.video and Path(asset.job.video).is_file()
    frozen = asset.metrics["frozen_fraction"]
    assert isinstance(frozen, Measurement) and frozen.status == "ok" and frozen.value == 0.0
    assert results.metrics["flicker"].direction == "higher"
    for name in ("results.json", "junit.xml", "summary.md", "report.html"):
        assert (report / name).is_file(), name
    # results.json keeps the keys CI templates, `genserve ci notify` and `gate judge` read
    doc = json.loads((report / "results.json").read_text())
    assert doc["schema"] == "genserve.gate.results/1" and "schema_" not in doc
    assert set(doc) == {
        "schema",
        "suite",
        "created",
        "duration_sec",
        "mode",
        "server",
        "environment",
        "provenance",
        "metrics",
        "cases",
        "judgement",
    }
    case = doc["cases"][0]
    assert set(case) == {"name", "task", "backend", "params", "prompt", "assets", "case_metrics"}
    assert set(case["assets"][0]) == {"id", "inputs", "expect", "job", "metrics"}
    assert set(case["assets"][0]["job"]) == {*JOB_KEYS, "video"}
    assert set(case["assets"][0]["metrics"]["flicker"]) == {"value", "status", "reason", "detail"}
    assert doc["judgement"]["status"] == "pass" and doc["judgement"]["exit_code"] == 0
    assert read_verdict(report).status == "pass"


def test_a_regressed_backend_fails_against_the_baseline_it_wrote(
    baselined: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    suite, baseline, _ = baselined
    with use_backend(FrozenSecondHalfCamera):
        gate = run_gate(suite, report_dir=tmp_path / "r", baseline=baseline)
    assert gate.judgement.status == "fail" and gate.exit_code == 9
    assert [c.id for c in gate.judgement.failed] == ["frozen_fraction"]
    verdict = read_verdict(tmp_path / "r")
    assert verdict.status == "fail" and verdict.failed[0][0] == "frozen_fraction"
    assert "> max 0.25" in verdict.failed[0][1]


def test_stored_results_are_judged_again_without_the_cli(
    baselined: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, baseline, report = baselined
    again = judge_again(report, report_dir=tmp_path / "same", baseline=baseline)
    assert again.exit_code == 0 and again.results == load_results(report)
    strict = write_suite(
        tmp_path / "strict.yaml", SMALL, [*CHECKS, {"metric": "inference_time", "max": 1e-9}]
    )
    judged = judge_again(
        report / "results.json", report_dir=tmp_path / "strict", suite=strict, results_dir=tmp_path / "tekton"
    )
    assert judged.exit_code == 9 and [c.id for c in judged.judgement.failed] == ["inference_time"]
    assert (tmp_path / "tekton" / "gate_status").read_text() == "fail"
    assert (tmp_path / "tekton" / "failed_checks").read_text() == "inference_time"


def test_a_failed_job_fails_the_gate_and_is_never_a_baseline(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "bad.yaml", {**SMALL, "num_frames": 0})  # the job rejects it
    gate = run_gate(suite, report_dir=tmp_path / "r")
    # the job's own error decides the exit code (invalid input: 2), as in `genserve run`
    assert gate.exit_code == 2 and gate.judgement.failed[0].id == "job_succeeded"
    assert gate.results.failed_jobs() == ["zoom/sample"]
    assert gate.results.cases[0].assets[0].job.error == "invalid_input"
    with pytest.raises(InvalidInput, match="refuses to write a baseline") as info:
        run_gate(suite, report_dir=tmp_path / "r2", baseline=tmp_path / "b.json", update_baseline=True)
    assert info.value.value == ["zoom/sample"]
    assert not (tmp_path / "b.json").exists()


def test_bad_calls_raise_typed_errors_before_writing(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "s.yaml", SMALL)
    with pytest.raises(InvalidInput, match="needs --baseline"):
        run_gate(suite, report_dir=tmp_path / "r", update_baseline=True)
    with pytest.raises(NotFound, match="suite file does not exist"):
        run_gate(tmp_path / "none.yaml", report_dir=tmp_path / "r")
    with pytest.raises(NotFound, match="baseline file does not exist"):
        run_gate(suite, report_dir=tmp_path / "r", baseline=tmp_path / "none.json")
    assert not (tmp_path / "r").exists()
