"""`genserve ci init` output checked by each CI system's own validators, offline: actionlint and
GitHub's workflow schema; GitLab's CI schema (both schemas as check-jsonschema ships them); Tekton's
v1 CRD schemas (tektoncd/pipeline v1.15.0, strict: an unknown field is an error) and a reference
check (every `$(params|results|workspaces|steps|tasks|context…)` names something declared); a
Jenkinsfile structure check; shellcheck on every script block of all four systems."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from genserve.errors import InvalidInput
from genserve.gates.ci import render_pipeline
from genserve.gates.ci_notify import FORMATS

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SUITE = "qa/suites/weightfree.yaml"
BASELINE = "qa/baselines/weightfree.json"
IMAGE = "ghcr.io/acme/genserve:0.1.0"


def _render(system: str, notify: str = "wecom", *, bare: bool = False) -> str:
    return render_pipeline(
        system, suite=SUITE, baseline=BASELINE, notify=notify, image=IMAGE, bare_python=bare
    )


def _tool(name: str) -> str:
    """A validator from the `dev` extra (the venv's bin), else on PATH."""
    found = BIN / name if (BIN / name).is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: pip install -e '.[dev]'")
    return str(found)


def _run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{BIN}:/usr/bin:/bin"}  # actionlint finds shellcheck here
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, **kwargs)


# --- GitHub and GitLab: their schemas and actionlint ------------------------------------------------


@pytest.mark.parametrize(("system", "schema"), [("github", "github-workflows"), ("gitlab", "gitlab-ci")])
def test_schema(system: str, schema: str, tmp_path: Path) -> None:
    paths = []
    for notify in FORMATS:
        for bare in (False, True):
            paths.append(tmp_path / f"{system}-{notify}-{bare}.yml")
            paths[-1].write_text(_render(system, notify, bare=bare))
    done = _run([_tool("check-jsonschema"), "--builtin-schema", f"vendor.{schema}", *map(str, paths)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_with_shellcheck(tmp_path: Path) -> None:
    (tmp_path / "image.yml").write_text(_render("github"))
    (tmp_path / "bare.yml").write_text(_render("github", bare=True))
    _tool("shellcheck")
    done = _run([_tool("actionlint"), "-verbose", str(tmp_path / "image.yml"), str(tmp_path / "bare.yml")])
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'Rule "shellcheck" was disabled' not in done.stderr  # the run: scripts were checked too


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The validator is live: a misspelt context and an unknown step key fail."""
    broken = _render("github").replace(
        "${{ secrets.GENSERVE_NOTIFY_URL }}", "${{ secret.GENSERVE_NOTIFY_URL }}"
    )
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    done = _run([_tool("actionlint"), str(path)])
    assert done.returncode != 0 and "secret" in done.stdout


def test_github_actions_are_pinned_to_commits() -> None:
    uses = re.findall(r"uses: (\S+)(.*)", _render("github"))
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", comment), (ref, comment)
    wf = yaml.safe_load(_render("github"))
    assert wf["permissions"] == {"contents": "read"}


# --- Tekton: CRD schemas and references ------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """kubeconform's -strict: an object schema with properties rejects fields it does not list."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _tekton_docs(text: str | None = None) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text or _render("tekton")) if d]


def _pipeline_objects(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tekton Pipelines' objects: the file's own and the PipelineRuns inside TriggerTemplates
    (Tekton Triggers' CRDs carry no schema: its objects are checked by reference only)."""
    own = [d for d in docs if d["apiVersion"].startswith("tekton.dev/")]
    templated = [r for d in docs if d["kind"] == "TriggerTemplate" for r in d["spec"]["resourcetemplates"]]
    return own + templated


def _crd_errors(docs: list[dict[str, Any]]) -> list[str]:
    schemas = json.loads((HERE / "tekton_v1_crd_schemas.json").read_text())["schemas"]
    errors = []
    for doc in _pipeline_objects(docs):
        assert doc["apiVersion"] == "tekton.dev/v1", doc["apiVersion"]
        validator = jsonschema.Draft7Validator(_strict(schemas[doc["kind"]]))
        name = doc["metadata"].get("name") or doc["metadata"].get("generateName")
        errors += [
            f"{doc['kind']} {name}: {'.'.join(map(str, e.path))}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
    return errors


def test_tekton_objects_pass_the_crd_schemas() -> None:
    docs = _tekton_docs()
    kinds = ["Task", "Task", "Pipeline", "PipelineRun", "TriggerTemplate", "TriggerBinding", "EventListener"]
    assert [d["kind"] for d in docs] == kinds
    assert [d["kind"] for d in _pipeline_objects(docs)] == [*kinds[:4], "PipelineRun"]
    run, on_push = _pipeline_objects(docs)[3:]
    # a push starts the same run as the file's own, only with the pushed repository and commit
    assert {**run["spec"], "params": None} == {**on_push["spec"], "params": None}
    assert _crd_errors(docs) == []
    # the check is live: a misplaced field and a wrong type are caught
    bad = _tekton_docs()
    bad[0]["spec"]["steps"][0]["scirpt"] = "echo"
    bad[3]["spec"]["timeouts"]["pipeline"] = 3600
    errors = _crd_errors(bad)
    assert any("scirpt" in e for e in errors) and any("timeouts.pipeline" in e for e in errors), errors


REF = re.compile(r"\$\(([A-Za-z][\w-]*\.[^)\s]*)\)")  # $(params.x), not the shell's $(cmd args)
CONTEXT = {
    "context.taskRun.name",
    "context.taskRun.namespace",
    "context.taskRun.uid",
    "context.task.name",
    "context.task.retry-count",
    "context.pipelineRun.name",
    "context.pipelineRun.namespace",
    "context.pipelineRun.uid",
    "context.pipeline.name",
    "context.pipelineTask.retries",
}


def _strings(node: Any, skip: tuple[str, ...] = ()) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() if k not in skip for s in _strings(v, skip)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v, skip)]
    return [node] if isinstance(node, str) else []


def _task_ref_errors(name: str, spec: dict[str, Any]) -> list[str]:
    params = {p["name"] for p in spec.get("params", [])}
    results = {r["name"] for r in spec.get("results", [])}
    workspaces = {w["name"] for w in spec.get("workspaces", [])}
    steps = {s["name"] for s in spec.get("steps", [])}
    errors = []
    for text in _strings(spec):
        for ref in REF.findall(text):
            kind, _, rest = ref.partition(".")
            ok = {
                "params": rest in params,
                "results": rest.endswith(".path") and rest[: -len(".path")] in results,
                "workspaces": rest.endswith(".path") and rest[: -len(".path")] in workspaces,
                "steps": rest.startswith("step-")
                and rest.endswith(".exitCode.path")
                and rest[len("step-") : -len(".exitCode.path")] in steps,
                "context": ref in CONTEXT,
            }.get(kind, False)
            if not ok:
                errors.append(f"Task {name}: $({ref}) names nothing declared")
    return errors


def _tekton_ref_errors(docs: list[dict[str, Any]]) -> list[str]:
    tasks = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Task"}
    errors: list[str] = []
    for name, spec in tasks.items():
        errors += _task_ref_errors(name, spec)
    pipelines = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Pipeline"}
    for pname, pipe in pipelines.items():
        params = {p["name"] for p in pipe.get("params", [])}
        workspaces = {w["name"] for w in pipe.get("workspaces", [])}
        regular = {t["name"]: t for t in pipe["tasks"]}
        every = {**regular, **{t["name"]: t for t in pipe.get("finally", [])}}

        def spec_of(pt: dict[str, Any]) -> dict[str, Any]:
            if "taskSpec" in pt:
                return dict(pt["taskSpec"])
            return tasks.get(pt["taskRef"]["name"], {})

        for pt in [*pipe["tasks"], *pipe.get("finally", [])]:
            if "taskSpec" not in pt and pt["taskRef"]["name"] not in tasks:
                errors.append(
                    f"Pipeline {pname}: {pt['name']} refers to Task {pt['taskRef']['name']}, not here"
                )
        for group in ("tasks", "finally"):
            for pt in pipe.get(group, []):
                spec = spec_of(pt)
                if "taskSpec" in pt:
                    errors += _task_ref_errors(f"{pname}/{pt['name']}", spec)
                declared = {p["name"]: p for p in spec.get("params", [])}
                given = {p["name"] for p in pt.get("params", [])}
                errors += [
                    f"{pname}/{pt['name']}: param {g} is not the Task's" for g in given - set(declared)
                ]
                errors += [
                    f"{pname}/{pt['name']}: the Task's param {n} has no default and is not given"
                    for n, p in declared.items()
                    if "default" not in p and n not in given
                ]
                bound = {w["name"]: w["workspace"] for w in pt.get("workspaces", [])}
                needed = {w["name"] for w in spec.get("workspaces", [])}
                errors += [f"{pname}/{pt['name']}: workspace {w} not bound" for w in needed - set(bound)]
                errors += [
                    f"{pname}/{pt['name']}: no pipeline workspace {w}"
                    for w in set(bound.values()) - workspaces
                ]
                errors += [
                    f"{pname}/{pt['name']}: runAfter {r}?" for r in pt.get("runAfter", []) if r not in regular
                ]
                for text in _strings(pt, skip=("taskSpec",)):
                    for ref in REF.findall(text):
                        kind, _, rest = ref.partition(".")
                        ok = False
                        if kind == "params":
                            ok = rest in params
                        elif kind == "context":
                            ok = ref in CONTEXT
                        elif kind == "tasks":
                            task, _, what = rest.partition(".")
                            if what == "status":
                                ok = group == "finally" and task in regular
                            elif what.startswith("results."):
                                declared_results = {
                                    r["name"] for r in spec_of(every[task]).get("results", [])
                                }
                                ok = task in every and what[len("results.") :] in declared_results
                        if not ok:
                            errors.append(f"Pipeline {pname}/{pt['name']}: $({ref}) names nothing declared")
    errors += _trigger_ref_errors(docs)
    for run in (d for d in _pipeline_objects(docs) if d["kind"] == "PipelineRun"):
        pipe = pipelines.get(run["spec"]["pipelineRef"]["name"])
        if pipe is None:
            errors.append("PipelineRun: its pipelineRef is not in the file")
            continue
        declared = {p["name"]: p for p in pipe.get("params", [])}
        given = {p["name"] for p in run["spec"].get("params", [])}
        errors += [f"PipelineRun: param {g} is not the Pipeline's" for g in given - set(declared)]
        errors += [
            f"PipelineRun: param {n} is required"
            for n, p in declared.items()
            if "default" not in p and n not in given
        ]
        bound = {w["name"] for w in run["spec"].get("workspaces", [])}
        errors += [
            f"PipelineRun: workspace {w['name']} not bound"
            for w in pipe.get("workspaces", [])
            if w["name"] not in bound
        ]
    return errors


def _trigger_ref_errors(docs: list[dict[str, Any]]) -> list[str]:
    """$(tt.params.x) declared by its TriggerTemplate; bindings give every template param; the
    EventListener's refs name objects of the file."""
    templates = {d["metadata"]["name"]: d for d in docs if d["kind"] == "TriggerTemplate"}
    bindings = {d["metadata"]["name"]: d for d in docs if d["kind"] == "TriggerBinding"}
    errors = []
    for name, tt in templates.items():
        declared = {p["name"] for p in tt["spec"]["params"]}
        for text in _strings(tt["spec"]["resourcetemplates"]):
            for ref in REF.findall(text):
                if not (ref.startswith("tt.params.") and ref[len("tt.params.") :] in declared):
                    errors.append(f"TriggerTemplate {name}: $({ref}) names nothing declared")
    for listener in (d for d in docs if d["kind"] == "EventListener"):
        for trigger in listener["spec"]["triggers"]:
            template = templates.get(trigger["template"]["ref"])
            given = set()
            for b in trigger["bindings"]:
                if b["ref"] not in bindings:
                    errors.append(f"EventListener: binding {b['ref']} is not in the file")
                    continue
                given |= {p["name"] for p in bindings[b["ref"]]["spec"]["params"]}
            if template is None:
                errors.append(f"EventListener: template {trigger['template']['ref']} is not in the file")
                continue
            needed = {p["name"] for p in template["spec"]["params"] if "default" not in p}
            errors += [f"EventListener {trigger['name']}: no binding gives {n}" for n in needed - given]
    return errors


def test_tekton_references_name_what_is_declared() -> None:
    docs = _tekton_docs()
    assert _tekton_ref_errors(docs) == []
    # live: a result the gate does not declare, a param the Task lacks
    broken = _render("tekton").replace("$(tasks.gate.status)", "$(tasks.gate.results.verdict)")
    broken = broken.replace(
        "value: $(params.server-url)\n      script", "value: $(params.server)\n      script"
    )
    errors = _tekton_ref_errors(_tekton_docs(broken))
    assert any("tasks.gate.results.verdict" in e for e in errors), errors
    assert any("$(params.server)" in e for e in errors), errors
    broken = _render("tekton").replace("$(tt.params.revision)", "$(tt.params.commit)")
    broken = broken.replace("- ref: genserve-github-push", "- ref: genserve-gitlab-push")
    errors = _tekton_ref_errors(_tekton_docs(broken))
    assert any("$(tt.params.commit)" in e for e in errors), errors
    assert any("genserve-gitlab-push" in e for e in errors), errors


def test_tekton_scripts_take_params_through_env() -> None:
    for doc in _tekton_docs():
        for script in _tekton_scripts(doc):
            assert not REF.findall(script), script


# --- shellcheck on every script block -----------------------------------------------------------------


def _github_scripts(bare: bool) -> list[tuple[str, str, str]]:
    wf = yaml.safe_load(_render("github", bare=bare))
    out = []
    for job_name, job in wf["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                body = re.sub(r"\$\{\{.*?\}\}", "expr", step["run"])
                out.append((f"github {job_name}: {step.get('name', '')}", "bash", body))
    return out


def _gitlab_scripts(bare: bool) -> list[tuple[str, str, str]]:
    doc = yaml.safe_load(_render("gitlab", bare=bare))
    out = []
    for name, job in doc.items():
        if not isinstance(job, dict):
            continue
        main = [*job.get("before_script", []), *job.get("script", [])]
        for label, lines in (("script", main), ("after_script", job.get("after_script", []))):
            if lines:
                out.append((f"gitlab {name}: {label}", "sh", "\n".join(lines)))
    return out


def _jenkins_scripts(bare: bool) -> list[tuple[str, str, str]]:
    text = _render("jenkins", bare=bare)
    blocks = re.findall(r"\bsh\s+(?:'''(.*?)'''|'([^'\n]*)')", text, flags=re.S)
    assert blocks
    # NOTE: Groovy joins a backslash-newline in ''' strings; the shell would too
    return [(f"jenkins sh #{i}", "sh", (a or b).replace("\\\n", " ")) for i, (a, b) in enumerate(blocks)]


def _tekton_scripts(doc: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("script"), str):
                found.append(node["script"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return found


def _all_scripts() -> list[tuple[str, str, str]]:
    tekton = [
        (f"tekton {d['kind']} #{i}", "sh", s)
        for d in _tekton_docs()
        for i, s in enumerate(_tekton_scripts(d))
    ]
    variants = [
        f(bare) for bare in (False, True) for f in (_github_scripts, _gitlab_scripts, _jenkins_scripts)
    ]
    return [script for variant in variants for script in variant] + tekton


def test_shellcheck_every_script_block(tmp_path: Path) -> None:
    scripts = _all_scripts()
    systems = {label.split()[0] for label, _, _ in scripts}
    assert systems == {"github", "gitlab", "jenkins", "tekton"}
    failures = []
    for i, (label, shell, body) in enumerate(scripts):
        path = tmp_path / f"{i}.sh"
        path.write_text(body if body.startswith("#!") else f"#!/bin/{shell}\n{body}\n")
        done = _run([_tool("shellcheck"), "--severity=style", str(path)])
        if done.returncode != 0:
            failures.append(f"{label}:\n{done.stdout}")
    assert not failures, "\n".join(failures)


# --- Jenkins: structure ------------------------------------------------------------------------------


def _groovy_blocks(text: str) -> dict[str, str]:
    """Each `name {` / `stage('x') {` block's body, found by brace matching (strings skipped)."""
    code = re.sub(r"'''.*?'''|'[^'\n]*'|\"[^\"\n]*\"", lambda m: "S" * len(m.group(0)), text, flags=re.S)
    code = re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), code)
    assert code.count("{") == code.count("}") and code.count("(") == code.count(")")
    blocks: dict[str, str] = {}
    for match in re.finditer(r"(\w+(?:\([^)]*\))?)\s*\{", code):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            i += 1
        label = text[match.start(1) : match.end(1)]
        blocks.setdefault(label, text[match.end() : i - 1])
    return blocks


def test_jenkinsfile_structure() -> None:
    text = _render("jenkins")
    blocks = _groovy_blocks(text)
    assert set(blocks) >= {"pipeline", "parameters", "options", "environment", "stages", "post", "always"}
    assert re.search(r"^pipeline \{\n    agent none\n", text, flags=re.M)
    gate = blocks["stage('Quality gate')"]
    # the gate runs in the genserve image, its entrypoint replaced by a shell
    docker = _groovy_blocks(gate)["docker"]
    assert 'image "${params.GENSERVE_IMAGE}"' in docker and "args '--entrypoint='" in docker
    assert f"defaultValue: '{IMAGE}'" in blocks["parameters"]
    inner = re.findall(r"stage\('([^']+)'\)", gate)
    assert inner == ["Start service", "Run the gate"]
    always = _groovy_blocks(gate)["always"]
    order = [
        always.find(s)
        for s in ("kill", "junit", "archiveArtifacts", "genserve ci upload", "genserve ci notify")
    ]
    assert -1 not in order and order == sorted(order), order
    stop = always[: always.index("junit")]
    assert "|| true" in stop and stop.rstrip().endswith("'''")  # the stop script cannot fail
    assert always.count("catchError(buildResult: 'FAILURE', stageResult: 'FAILURE')") == 2
    assert "aws " not in text  # no aws CLI anywhere
    deploy = blocks["stage('Deploy')"]
    assert "agent any" in deploy and "beforeAgent true" in deploy


def test_no_pipeline_installs_per_run() -> None:
    for system in ("github", "gitlab", "jenkins", "tekton"):
        text = _render(system)
        gate_part = text.split("# Deploy")[0].split("// Deploy")[0]
        for word in (
            "pip install",
            "setup.sh",
            "apt-get",
            "torch",
            "genserve[all]",
            "aws s3",
            "setup-python",
        ):
            assert word not in gate_part, (system, word)
        assert IMAGE in text, system


def test_bare_python_fallback() -> None:
    """`--bare-python`: no image, genserve installed per run (GitHub, GitLab, Jenkins); Tekton refuses."""
    github = yaml.safe_load(_render("github", bare=True))["jobs"]["gate"]
    assert "container" not in github
    assert any("scripts/setup.sh" in s.get("run", "") for s in github["steps"])
    gitlab = yaml.safe_load(_render("gitlab", bare=True))
    assert gitlab[".genserve-image"]["image"] == "python:3.11-slim"
    assert "GENSERVE_IMAGE" not in gitlab["variables"] and "variables" not in gitlab["gate-report"]
    jenkins = _render("jenkins", bare=True)
    blocks = _groovy_blocks(jenkins)
    assert (
        "scripts/setup.sh" in blocks["stage('Setup')"] and "docker {" not in blocks["stage('Quality gate')"]
    )
    for text in (_render("github", bare=True), _render("gitlab", bare=True), jenkins):
        assert "@" + "image" not in text and "@" + "bare" not in text and IMAGE not in text.split("Deploy")[0]
    with pytest.raises(InvalidInput, match="--bare-python"):
        _render("tekton", bare=True)
