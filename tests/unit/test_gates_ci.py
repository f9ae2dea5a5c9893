"""`genserve ci init`: every template parses and has the structure a pipeline needs; prompts render
from git metadata with their version; suites reject what they cannot run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from genserve.cli import app
from genserve.errors import InvalidInput, NotFound
from genserve.gates.ci import SYSTEMS, render_pipeline
from genserve.gates.prompts import render_prompt
from genserve.gates.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]
SUITE = "qa/suites/weightfree.yaml"
BASELINE = "qa/baselines/weightfree.json"


def _render(system: str) -> str:
    text = render_pipeline(system, suite=SUITE, baseline=BASELINE)
    assert "@SUITE@" not in text and "@BASELINE@" not in text
    return text


def _gate_command(text: str) -> str:
    line = next(ln for ln in text.splitlines() if "genserve gate run" in ln)
    assert SUITE in line and "--server" in line
    return line


def test_github_workflow() -> None:
    wf = yaml.safe_load(_render("github"))
    job = wf["jobs"]["gate"]
    assert job["container"]["image"].startswith("${{ vars.GENSERVE_IMAGE || '")
    steps = {s.get("name", s.get("uses")): s for s in job["steps"]}
    order = list(steps)
    for name in ("Start the service", "Wait until the service is ready", "Run the quality gate", "Notify"):
        assert name in steps, name
    assert order.index("Start the service") < order.index("Run the quality gate")
    gate = steps["Run the quality gate"]["run"]
    assert "--baseline" in gate and BASELINE in gate and "$GITHUB_STEP_SUMMARY" in gate
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "gate-report/" in upload["with"]["path"]
    # after the gate, every step runs on every outcome; the service is stopped first
    after = order[order.index("Run the quality gate") + 1 :]
    assert after[0] == "Stop the service"
    assert all(steps[name]["if"].startswith("always()") for name in after)
    archive = steps["Archive reports, outputs and logs to S3-compatible storage"]
    assert "genserve ci upload" in archive["run"] and "aws " not in _render("github")
    assert "genserve ci notify" in steps["Notify"]["run"] and "--to webhook" in steps["Notify"]["run"]
    assert steps["Notify"]["env"]["GENSERVE_NOTIFY_URL"] == "${{ secrets.GENSERVE_NOTIFY_URL }}"


def _assert_deploy_order(script: str) -> None:
    """Build, scan, push, `helm upgrade --install --atomic`, smoke test, rollback: in that order."""
    steps = [
        "docker build -f deploy/docker/Dockerfile ",
        "docker build -f deploy/docker/Dockerfile.cuda ",
        "trivy",
        "docker push",
        "helm upgrade --install",
        "helm test",
        "helm rollback",
    ]
    at = [script.find(step) for step in steps]
    assert -1 not in at and at == sorted(at), dict(zip(steps, at, strict=True))
    upgrade = script[script.index("helm upgrade --install") :].split("helm test")[0]
    assert "--atomic" in upgrade and "--wait" in upgrade and "deploy/helm/genserve" in upgrade
    assert '--set image.tag="$' in upgrade


def test_github_deploy_job() -> None:
    wf = yaml.safe_load(_render("github"))
    job = wf["jobs"]["deploy"]
    assert job["needs"] == "gate"
    # only on main, and only where a registry is configured
    assert "refs/heads/main" in job["if"] and "vars.GENSERVE_REGISTRY != ''" in job["if"]
    steps = job["steps"]
    names = [s.get("name", s.get("uses")) for s in steps]
    script = "\n".join(
        s.get("run", "") + (" trivy " + s["with"]["image-ref"] if "trivy" in s.get("uses", "") else "")
        for s in steps
    )
    _assert_deploy_order(script)
    assert names.index("Check the deploy files offline") < names.index("Build the images")
    scans = [s for s in steps if "trivy-action" in s.get("uses", "")]
    assert len(scans) == 2 and all(s["with"]["exit-code"] == "1" for s in scans)
    rollback = next(s for s in steps if "helm rollback" in s.get("run", ""))
    assert rollback["if"] == "failure() && steps.smoke.outcome == 'failure'"
    assert next(s for s in steps if s.get("id") == "smoke")["run"].startswith("helm test")
    # credentials only from secrets
    assert "${{ secrets.GENSERVE_KUBECONFIG }}" in _render("github")


def test_gitlab_deploy_jobs() -> None:
    doc = yaml.safe_load(_render("gitlab"))
    image, deploy = doc["deploy-image"], doc["deploy"]
    assert doc["stages"] == ["gate", "report", "image", "deploy"]
    assert image["stage"] == "image" and deploy["stage"] == "deploy"
    assert image["needs"] == ["quality-gate"] and deploy["needs"] == ["deploy-image"]
    rules = doc[".deploy-rules"]["rules"]
    assert image["extends"] == deploy["extends"] == ".deploy-rules"
    assert rules == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $GENSERVE_KUBECONFIG"}]
    _assert_deploy_order("\n".join(image["script"] + deploy["script"]))


def test_gitlab_pipeline() -> None:
    doc = yaml.safe_load(_render("gitlab"))
    job = doc["quality-gate"]
    assert job["stage"] in doc["stages"]
    assert doc[".genserve-image"]["image"] == {"name": "$GENSERVE_IMAGE", "entrypoint": [""]}
    assert job["extends"] == ".genserve-image" and "before_script" not in job
    script = "\n".join(job["script"])
    assert "genserve serve" in script and "/readyz" in script and "cat logs/serve.log" in script
    _gate_command(script)
    assert "kill" in "\n".join(job["after_script"])  # stopped whatever happened
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "gate-report/junit.xml"
    # archive and notify in a job of their own: it runs on every outcome and its failures show
    report = doc["gate-report"]
    assert report["when"] == "always" and report["needs"] == [{"job": "quality-gate", "artifacts": True}]
    body = "\n".join(report["script"])
    assert "genserve ci upload" in body and "genserve ci notify" in body and body.endswith('exit "$failed"')
    assert "aws " not in _render("gitlab")


def _groovy_blocks(text: str) -> dict[str, str]:
    """Each `name {` / `stage('x') {` block's body, found by brace matching (strings skipped)."""
    code = re.sub(r"'''.*?'''|'[^'\n]*'", lambda m: "S" * len(m.group(0)), text, flags=re.S)
    code = re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), code)
    assert code.count("{") == code.count("}")
    blocks: dict[str, str] = {}
    for match in re.finditer(r"(\w+(?:\([^)]*\))?)\s*\{", code):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            i += 1
        label = text[match.start(1) : match.end(1)]
        blocks.setdefault(label, text[match.end() : i - 1])
    return blocks


def test_jenkinsfile_deploy_stage() -> None:
    text = _render("jenkins")
    blocks = _groovy_blocks(text)
    stages = re.findall(r"^        stage\('([^']+)'\)", text, flags=re.M)
    assert stages == ["Quality gate", "Deploy"]
    assert "genserve gate run" in blocks["stage('Run the gate')"]
    deploy = blocks["stage('Deploy')"]
    when = blocks["allOf"]
    assert "branch 'main'" in when and "env.GENSERVE_REGISTRY" in when
    _assert_deploy_order(deploy)
    assert "junit" in blocks["always"] and "archiveArtifacts" in blocks["always"]
    assert "gate-report/junit.xml" in blocks["always"]
    _gate_command(text)


def test_tekton_task_and_pipeline() -> None:
    docs = list(yaml.safe_load_all(_render("tekton")))
    task = next(d for d in docs if d["kind"] == "Task")
    pipeline = next(d for d in docs if d["kind"] == "Pipeline")
    run = next(d for d in docs if d["kind"] == "PipelineRun")
    assert task["apiVersion"] == pipeline["apiVersion"] == "tekton.dev/v1"
    results = {r["name"] for r in task["spec"]["results"]}
    assert {"gate_status", "failed_checks", "duration_error", "inference_time", "peak_gpu_memory"} <= results
    steps = {s["name"]: s for s in task["spec"]["steps"]}
    assert next(iter(steps)) == "init-results"  # every result has a value before anything can fail
    assert "--results-dir" in steps["gate"]["script"] and steps["gate"]["onError"] == "continue"
    assert "pass" in steps["verdict"]["script"]
    # the service: a sidecar on loopback, in the same image as the steps
    sidecar = task["spec"]["sidecars"][0]
    assert sidecar["args"][:3] == ["serve", "--host", "127.0.0.1"] and sidecar["image"] == "$(params.image)"
    params = {p["name"]: p for p in task["spec"]["params"]}
    assert params["suite"]["default"] == SUITE
    gate = next(t for t in pipeline["spec"]["tasks"] if t["name"] == "gate")
    assert gate["taskRef"]["name"] == task["metadata"]["name"] and gate["timeout"] == "30m"
    report = pipeline["spec"]["finally"][0]
    assert report["name"] == "report" and report["taskRef"]["name"] == "genserve-gate-report"
    # the finally task reads no gate result (missing when the gate never wrote them), only its status
    assert "tasks.gate.results" not in json.dumps(report)
    assert run["spec"]["pipelineRef"]["name"] == pipeline["metadata"]["name"]
    assert set(run["spec"]["timeouts"]) == {"pipeline", "tasks", "finally"}


def test_ci_init_writes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    for system in SYSTEMS:
        out = tmp_path / system / "pipeline"
        result = runner.invoke(app, ["ci", "init", system, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_text() == _render(system)
    again = runner.invoke(app, ["ci", "init", "github", "--out", str(tmp_path / "github" / "pipeline")])
    assert again.exit_code == 2 and "--force" in again.output
    with pytest.raises(InvalidInput, match="unknown CI system"):
        render_pipeline("travis", suite=SUITE, baseline=BASELINE)


def test_prompt_from_git_metadata(tmp_path: Path) -> None:
    template = tmp_path / "p.j2"
    template.write_text(
        "{# version: 3 #}\nAd for {{ message | first_line }} on {{ branch }}{% if tag %} {{ tag }}{% endif %}"
    )
    prompt, record = render_prompt(
        template, {"message": "New sneakers\n\nbody", "branch": "spring", "tag": "v2"}
    )
    assert prompt == "Ad for New sneakers on spring v2"
    assert record["version"] == "3" and record["template"] == "p.j2" and len(record["sha256"]) == 64
    # the real repository's own metadata fills in what is not overridden
    prompt, record = render_prompt(ROOT / "qa" / "assets" / "prompts" / "i2v.j2")
    assert record["variables"]["commit"] and record["version"] == "1"
    bad = tmp_path / "bad.j2"
    bad.write_text("{{ nope }}")
    with pytest.raises(InvalidInput, match="use only these variables"):
        render_prompt(bad)
    result = CliRunner().invoke(
        app, ["gate", "prompt", str(template), "--var", "message=Hi", "--var", "branch=b"]
    )
    assert result.exit_code == 0 and result.output.strip().startswith("Ad for Hi on b")


def test_suite_validation_names_the_place_and_the_fix(tmp_path: Path) -> None:
    suite = load_suite(ROOT / SUITE)
    assert [c.name for c in suite.cases] == ["i2v-zoom", "talking", "ocr"]
    (tmp_path / "img.png").write_bytes(b"x")

    def bad(body: str) -> str:
        path = tmp_path / "s.yaml"
        path.write_text(body)
        with pytest.raises((InvalidInput, NotFound)) as info:
            load_suite(path)
        return str(info.value)

    head = "name: s\nassets: .\ncases:\n  - {name: a, task: recognize, assets: [{id: x, image: img.png}]}\n"
    assert "unknown metric" in bad(head + "checks:\n  - {metric: lse_x, max: 1}\n")
    assert "checks nothing" in bad(head + "checks:\n  - {metric: cer}\n")
    assert "unknown case" in bad(head + "checks:\n  - {metric: cer, max: 1, cases: [b]}\n")
    assert "unknown task" in bad(
        "name: s\nassets: .\ncases:\n  - {name: a, task: paint, assets: [{id: x}]}\n"
    )
    assert "not valid YAML" in bad("name: [\n")
    assert "mostly" in bad(head + "checks:\n  - {metric: cer, max: 1, mostly: 2}\n")
