"""The typed results document: what a job result keeps, the on-disk keys (``schema``, not the
field's name), older or partial files read with defaults, a broken file named where it breaks, and
`genserve ci notify` reading the judgement through the same models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genserve.errors import InvalidInput
from genserve.gates.ci_notify import read_verdict
from genserve.gates.judge import judge
from genserve.gates.registry import get_metric
from genserve.gates.report_json import load_results, write_results
from genserve.gates.results import JOB_KEYS, JobSummary, Results
from genserve.gates.suite import Suite
from genserve.tasks.base import JobResult, JobStatus


def _doc() -> dict[str, object]:
    """A results document as an older genserve wrote it: no created/duration/environment keys."""
    return {
        "schema": "genserve.gate.results/1",
        "suite": {"name": "s"},
        "metrics": {"frozen_fraction": get_metric("frozen_fraction").describe()},
        "cases": [
            {
                "name": "c",
                "task": "image-to-video",
                "assets": [
                    {
                        "id": "a",
                        "job": {"status": "succeeded"},
                        "metrics": {"frozen_fraction": {"value": 0.5, "status": "ok"}},
                    },
                    {"id": "b", "job": {"status": "failed", "message": "boom"}},
                ],
            }
        ],
    }


def test_job_summary_keeps_the_reported_keys_of_a_job_result() -> None:
    result = JobResult(job_id="j1", status=JobStatus.succeeded, task="image-to-video", backend="camera")
    summary = JobSummary.of({**result.model_dump(mode="json"), "provenance": {"x": 1}}, "/tmp/v.mp4")
    dumped = summary.model_dump(mode="json")
    assert list(dumped) == [*JOB_KEYS, "video"]  # the order results.json has always had
    assert dumped["timings"] == {"queue": None, "load": 0.0, "run": 0.0, "encode": 0.0}
    assert summary.succeeded and summary.video == "/tmp/v.mp4" and summary.backend == "camera"
    assert not JobSummary(status="failed").succeeded


def test_results_round_trip_under_the_on_disk_keys(tmp_path: Path) -> None:
    results = Results.model_validate(_doc())
    assert results.created == "" and results.environment == {} and results.cases[0].assets[1].metrics == {}
    assert results.failed_jobs() == ["c/b"]
    doc = results.to_json()
    assert doc["schema"] == "genserve.gate.results/1" and "schema_" not in doc
    assert doc["metrics"]["frozen_fraction"]["direction"] == "lower"
    write_results(results, None, tmp_path)
    assert "judgement" not in json.loads((tmp_path / "results.json").read_text())
    assert load_results(tmp_path) == results


def test_a_judged_report_is_read_back_by_ci_notify(tmp_path: Path) -> None:
    results = Results.model_validate(_doc())
    suite = Suite.model_validate(
        {
            "name": "s",
            "cases": [{"name": "c", "task": "image-to-video", "assets": [{"id": "a", "image": "x.png"}]}],
            "checks": [{"metric": "frozen_fraction", "max": 0.25}],
        }
    )
    judgement = judge(results, suite)
    write_results(results, judgement, tmp_path)
    verdict = read_verdict(tmp_path)
    assert verdict.status == "fail" and verdict.suite == "s"
    assert [c for c, _ in verdict.failed] == ["job_succeeded", "frozen_fraction"]
    assert "job failed: boom" in verdict.failed[0][1]
    # the judgement is left out when the results are read for judging again
    assert load_results(tmp_path) == results


def test_broken_files_are_named_where_they_break(tmp_path: Path) -> None:
    doc = _doc()
    del doc["cases"][0]["assets"][0]["job"]  # type: ignore[index]
    (tmp_path / "results.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match=r"cases\.0\.assets\.0\.job: Field required"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({**_doc(), "schema": "other/1"}))
    with pytest.raises(InvalidInput, match="is not a genserve gate results file"):
        load_results(tmp_path / "results.json")
    judged = {**_doc(), "judgement": {"status": "maybe", "exit_code": 0, "checks": []}}
    (tmp_path / "results.json").write_text(json.dumps(judged))
    verdict = read_verdict(tmp_path)
    assert verdict.status == "error" and "judgement.status" in verdict.reason
