"""The committed weight-free suite: passes against its committed baseline; a planted regression
(a frozen second half, or the talking-head audio 5 frames late) exits 9 and the Markdown names the
failing check with its numbers; stored results are re-judged without generating again; the HTML
report opens in a real browser with its contact sheets."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from gate_plants import FrozenSecondHalfCamera, late_audio, use_backend
from typer.testing import CliRunner

from genserve.backends.portrait import PortraitBackend
from genserve.cli import app

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "qa" / "suites" / "weightfree.yaml"
BASELINE = ROOT / "qa" / "baselines" / "weightfree.json"
ARTIFACTS = ROOT / "test-artifacts"


def gate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["gate", *args])
    return result.exit_code, result.output


def run_suite(report: Path, *extra: str) -> tuple[int, str]:
    return gate(
        "run", str(SUITE), "--local", "--baseline", str(BASELINE), "--report-dir", str(report), *extra
    )


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = tmp_path_factory.mktemp("gate") / "report"
    code, out = run_suite(report, "--results-dir", str(report / "tekton"))
    assert code == 0, out
    return report


def test_weightfree_suite_passes_against_its_committed_baseline(passing: Path) -> None:
    results = json.loads((passing / "results.json").read_text())
    assert results["judgement"]["status"] == "pass"
    tasks = {c["task"] for c in results["cases"]}
    assert tasks == {"image-to-video", "talking-head", "recognize"}
    backends = {c["backend"] for c in results["cases"]}
    assert backends == {"camera", "portrait", "rapidocr"}
    # metrics were compared with the committed baseline, not just bounds
    flicker = next(c for c in results["judgement"]["checks"] if c["id"] == "flicker")
    assert all(o["baseline"] is not None for o in flicker["outcomes"])
    # weights-needing metrics are reported as skipped, never passed
    lse = next(c for c in results["judgement"]["checks"] if c["id"] == "lse_d")
    assert lse["status"] == "skipped" and lse["passed"] == 0
    # the prompt came from the versioned template and git metadata
    i2v = next(c for c in results["cases"] if c["name"] == "i2v-zoom")
    assert i2v["prompt"]["template"] == "i2v.j2" and i2v["prompt"]["version"] == "1"
    assert i2v["params"]["prompt"].startswith("camera zooming in slowly")
    assert results["provenance"].get("git_commit")
    # JUnit: one test case per asset x check
    root = ET.parse(passing / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert int(root.get("tests", "0")) == len(cases) > 20
    assert root.get("failures") == "0"
    assert any(tc.get("name") == "av_offset[astronaut-hello]" for tc in cases)
    # Tekton: one file per figure
    tekton = passing / "tekton"
    assert (tekton / "gate_status").read_text() == "pass"
    assert float((tekton / "duration_error").read_text()) <= 0.05
    assert float((tekton / "inference_time").read_text()) > 0
    assert (tekton / "peak_gpu_memory").read_text() == "skipped"
    assert "✅ pass" in (passing / "summary.md").read_text()


def test_frozen_second_half_fails_the_gate(tmp_path: Path) -> None:
    with use_backend(FrozenSecondHalfCamera):
        code, out = run_suite(tmp_path / "frozen")
    assert code == 9, out
    md = (tmp_path / "frozen" / "summary.md").read_text()
    assert "❌ FAIL (exit 9)" in md
    failing = md.split("### Failing checks")[1].split("|")[0]
    assert "**frozen_fraction**" in failing
    assert "0.5 > max 0.25" in failing  # the numbers, not just the name
    assert "FAIL frozen_fraction" in out


def test_talking_head_audio_five_frames_late_fails_the_gate(tmp_path: Path) -> None:
    with use_backend(late_audio(PortraitBackend, frames=5)):
        code, out = run_suite(tmp_path / "late")
    assert code == 9, out
    results = json.loads((tmp_path / "late" / "results.json").read_text())
    talk = next(c for c in results["cases"] if c["name"] == "talking")["assets"][0]
    assert talk["metrics"]["av_offset"]["detail"]["signed_offset"] == pytest.approx(6, abs=1)  # 1 + 5 late
    md = (tmp_path / "late" / "summary.md").read_text()
    failing = md.split("### Failing checks")[1].split("|")[0]
    assert "**av_offset**" in failing and "> max 2" in failing
    assert "image-to-video" not in failing  # only what broke is named


def test_stored_results_are_judged_again_without_generating(passing: Path, tmp_path: Path) -> None:
    strict = yaml.safe_load(SUITE.read_text())
    strict["assets"] = str(SUITE.parent / strict["assets"])
    strict["checks"].append({"id": "fast-enough", "metric": "inference_time", "max": 1e-6})
    suite = tmp_path / "strict.yaml"
    suite.write_text(yaml.safe_dump(strict, allow_unicode=True))
    before = sorted(p.name for p in (passing / "outputs").rglob("*"))
    code, out = gate(
        "judge", str(passing / "results.json"), "--suite", str(suite), "--report-dir", str(tmp_path / "r")
    )
    assert code == 9, out
    assert "fast-enough" in (tmp_path / "r" / "summary.md").read_text()
    assert sorted(p.name for p in (passing / "outputs").rglob("*")) == before  # nothing generated
    # the original thresholds still pass on the same numbers
    code, out = gate("judge", str(passing), "--baseline", str(BASELINE), "--report-dir", str(tmp_path / "r2"))
    assert code == 0, out


def test_bad_invocations_are_evaluation_errors(tmp_path: Path) -> None:
    code, out = gate("run", str(tmp_path / "nope.yaml"), "--local", "--report-dir", str(tmp_path))
    assert code == 2 and "suite file does not exist" in out
    code, out = gate("run", str(SUITE), "--report-dir", str(tmp_path))
    assert code == 2 and "exactly one of --local or --server" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncases:\n  - {name: a, task: recognize, assets: [{id: a, image: none.png}]}\n")
    code, out = gate("run", str(bad), "--local", "--report-dir", str(tmp_path / "r"))
    assert code == 2 and "asset file does not exist" in out and "a/a.image" in out
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_html_report_shows_contact_sheets_in_a_browser(passing: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian chromium is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto((passing / "report.html").as_uri())
            assert page.inner_text("#verdict") == "PASS"
            sheets = page.locator("img.sheet")
            assert sheets.count() == 3  # one per video: 2 image-to-video, 1 talking-head
            widths = page.eval_on_selector_all("img.sheet", "els => els.map(e => e.naturalWidth)")
            assert all(w > 200 for w in widths)  # the images really loaded
            plots = page.eval_on_selector_all(".plots img", "els => els.map(e => e.naturalWidth)")
            assert plots and all(w > 100 for w in plots)
            page.screenshot(path=str(ARTIFACTS / "gate-report.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "gate-report.png").stat().st_size > 10_000
