"""Judging stored measurements: non-compensatory, baseline tolerances, mostly, skipped != passed,
metric versions; a run with FID better but LSE-D 17 % worse fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from genserve.errors import ExitCode, exit_code_of
from genserve.gates.baseline import Baseline, baseline_from_results, load_baseline, save_baseline
from genserve.gates.judge import judge
from genserve.gates.registry import all_metrics
from genserve.gates.report_markdown import render_markdown
from genserve.gates.results import Results
from genserve.gates.suite import Suite


def _m(value: float | None, status: str = "ok", reason: str | None = None) -> dict[str, Any]:
    return {"value": value, "status": status, "reason": reason, "detail": {}}


def _results(
    assets: dict[str, dict[str, dict[str, Any]]],
    case_metrics: dict[str, Any] | None = None,
    jobs: dict[str, dict[str, Any]] | None = None,
) -> Results:
    metrics = all_metrics()
    names = {n for row in assets.values() for n in row} | set(case_metrics or {})
    jobs = jobs or {}
    doc = {
        "schema": "genserve.gate.results/1",
        "suite": {"name": "talk", "version": "1"},
        "environment": {"python": "3.11"},
        "provenance": {"git_commit": "abc"},
        "metrics": {n: metrics[n].describe() for n in names},
        "mode": "local",
        "cases": [
            {
                "name": "talking",
                "task": "talking-head",
                "assets": [
                    {"id": aid, "job": jobs.get(aid, {"status": "succeeded"}), "metrics": row}
                    for aid, row in assets.items()
                ],
                "case_metrics": case_metrics or {},
            }
        ],
    }
    return Results.model_validate(doc)


def _suite(*checks: dict[str, Any]) -> Suite:
    return Suite.model_validate(
        {
            "name": "talk",
            "cases": [{"name": "talking", "task": "talking-head", "assets": [{"id": "a", "image": "x.png"}]}],
            "checks": list(checks),
        }
    )


SUITE = _suite(
    {"metric": "fid", "tolerance": {"relative": 0.1}},
    {"metric": "lse_d", "tolerance": {"relative": 0.05}},
)


def test_source_document_case_fid_better_lse_d_17_percent_worse_fails() -> None:
    base = baseline_from_results(_results({"a": {"lse_d": _m(6.0)}}, {"fid": _m(40.0)}))
    candidate = _results({"a": {"lse_d": _m(7.02)}}, {"fid": _m(30.0)})  # FID 25 % better, LSE-D 17 % worse
    j = judge(candidate, SUITE, base)
    assert j.status == "fail" and j.exit_code == ExitCode.GATE_FAILED == 9
    by_id = {c.id: c for c in j.checks}
    assert by_id["fid"].status == "pass"  # better FID ...
    assert by_id["lse_d"].status == "fail"  # ... never pays for worse lip sync
    outcome = by_id["lse_d"].outcomes[0]
    assert outcome.delta_pct == pytest.approx(17.0)
    assert "17.0 % worse" in outcome.reason
    md = render_markdown(candidate, j)
    assert "### Failing checks" in md
    assert "**lse_d**" in md and "7.02 vs baseline 6" in md and "+17.0 %" in md


def test_within_tolerance_passes_and_direction_matters() -> None:
    base = baseline_from_results(_results({"a": {"lse_d": _m(6.0), "lse_c": _m(8.0)}}))
    suite = _suite(
        {"metric": "lse_d", "tolerance": {"relative": 0.05}},
        {"metric": "lse_c", "tolerance": {"absolute": 0.5}},
    )
    ok = judge(_results({"a": {"lse_d": _m(5.0), "lse_c": _m(7.6)}}), suite, base)  # lower LSE-D is better
    assert ok.status == "pass" and ok.exit_code == 0
    bad = judge(_results({"a": {"lse_d": _m(5.0), "lse_c": _m(7.4)}}), suite, base)  # LSE-C down by 0.6
    assert [c.id for c in bad.failed] == ["lse_c"]


def test_bounds_and_mostly() -> None:
    suite = _suite({"metric": "av_offset", "max": 2, "mostly": 0.6})
    rows = {f"a{i}": {"av_offset": _m(v)} for i, v in enumerate([0, 1, 5, 1, 0])}
    assert judge(_results(rows), suite).status == "pass"  # 4 of 5 pass >= 60 %
    rows.update({"a5": {"av_offset": _m(4)}, "a6": {"av_offset": _m(7)}})
    j = judge(_results(rows), suite)  # 4 of 7 < 60 %
    assert j.status == "fail"
    assert "4/7 assets passed (need 60%)" in j.failed[0].reason


def test_skipped_is_never_a_pass() -> None:
    suite = _suite({"metric": "lse_d", "max": 8})
    skipped = _results({"a": {"lse_d": _m(None, "skipped", "needs local weights")}})
    j = judge(skipped, suite)
    check = next(c for c in j.checks if c.id == "lse_d")
    assert check.status == "skipped" and check.passed == 0 and check.evaluated == 0
    assert j.status == "pass"  # reported, not failed ...
    required = _suite({"metric": "lse_d", "max": 8, "required": True})
    assert judge(skipped, required).status == "fail"  # ... unless the suite requires the measurement


def test_a_metric_error_is_an_evaluation_error() -> None:
    j = judge(_results({"a": {"lse_d": _m(None, "error", "boom")}}), _suite({"metric": "lse_d", "max": 8}))
    assert j.status == "error" and j.exit_code == ExitCode.INTERNAL == 1


def test_failed_job_fails_the_gate() -> None:
    res = _results({"a": {"lse_d": _m(6.0)}}, jobs={"a": {"status": "failed", "message": "out of memory"}})
    j = judge(res, _suite({"metric": "lse_d", "max": 8}))
    assert j.status == "fail"
    assert j.failed[0].id == "job_succeeded" and "out of memory" in j.failed[0].reason


@pytest.mark.parametrize(
    ("job", "exit_code"),
    [
        ({"status": "failed", "error": "out_of_memory"}, 5),
        ({"status": "failed", "error": "invalid_input"}, 2),
        ({"status": "failed", "error": "backend_unavailable"}, 4),
        ({"status": "failed", "error": "internal_error"}, 1),
        ({"status": "canceled", "error": None}, 6),
    ],
)
def test_a_failed_job_exits_by_its_error_as_run_does(job: dict[str, Any], exit_code: int) -> None:
    """The same failure gives the same exit code in `gate` as in `run` and `submit --wait`."""
    res = _results({"a": {"lse_d": _m(9.0)}}, jobs={"a": job})  # a regression too: the job says more
    j = judge(res, _suite({"metric": "lse_d", "max": 8}))
    assert j.status == "fail" and j.exit_code == exit_code == exit_code_of(job["error"] or "canceled")


def test_metric_version_change_does_not_compare_across_rulers() -> None:
    base = baseline_from_results(_results({"a": {"lse_d": _m(6.0)}}))
    base.metric_versions["lse_d"] = "syncnet-v1"
    j = judge(
        _results({"a": {"lse_d": _m(9.0)}}),
        _suite({"metric": "lse_d", "tolerance": {"relative": 0.05}}),
        base,
    )
    check = next(c for c in j.checks if c.id == "lse_d")
    assert check.status == "skipped"
    assert any("re-baseline" in w for w in j.warnings)


def test_baseline_round_trip_with_fingerprint(tmp_path: Path) -> None:
    res = _results({"a": {"lse_d": _m(6.0), "lse_c": _m(None, "skipped")}}, {"fid": _m(40.0)})
    base = baseline_from_results(res)
    path = save_baseline(base, tmp_path / "b.json")
    loaded = load_baseline(path)
    assert loaded.values == {"talking/a": {"lse_d": 6.0}, "talking/*": {"fid": 40.0}}
    assert loaded.metric_versions["lse_d"] == all_metrics()["lse_d"].version
    assert loaded.environment == {"python": "3.11"} and loaded.provenance == {"git_commit": "abc"}
    other = _results({"a": {"lse_d": _m(6.0)}})
    other.environment = {"python": "3.12"}
    j = judge(other, SUITE, loaded)
    assert j.baseline["environment_differences"] == ["python: 3.11 -> 3.12"]


def test_bad_baseline_file_is_a_clear_error(tmp_path: Path) -> None:
    from genserve.errors import InvalidInput, NotFound

    with pytest.raises(NotFound, match="--update-baseline"):
        load_baseline(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InvalidInput, match="not a genserve baseline"):
        load_baseline(tmp_path / "x.json")
    assert isinstance(Baseline(suite="s"), Baseline)
