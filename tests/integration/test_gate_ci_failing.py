"""A failing gate through the pipelines `genserve ci init` writes, their shell steps run here in the
order and under the conditions each CI system applies: a real `genserve serve`, a suite whose cost
check cannot pass, a real S3 server and a local webhook receiver. Each run exits non-zero, uploads the
report to S3, stops the service and delivers the verdict in the chosen format.

- GitHub: the gate job's `run:` steps; after a failed step only `if: always()…` steps run.
- GitLab: `quality-gate`'s script (stops at the first failing line) and after_script, then the
  `gate-report` job (when: always) on the gate's artifacts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from genserve.gates.ci import render_pipeline

ROOT = Path(__file__).resolve().parents[2]
BASELINE = "qa/baselines/weightfree.json"
# the committed suite's OCR case alone (a few seconds on CPU), with a cost bound no run can meet
FAILING_SUITE = """\
name: weightfree
version: "1"
assets: qa/assets
cases:
  - name: ocr
    task: recognize
    backend: rapidocr
    params: {labels: false}
    assets:
      - {id: sign, image: text/sign.png, expect: {text: "质量门禁 2025 genserve gate"}}
checks:
  - {metric: cer, max: 0.1}
  - {metric: inference_time, max: 0.000001}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A chat robot on loopback: records each JSON body, answers as WeCom does."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                answer = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webhook/send?key=k"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _checkout(tmp_path: Path) -> Path:
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("qa", "src"):
        (work / name).symlink_to(ROOT / name)
    (work / "failing.yaml").write_text(FAILING_SUITE)
    return work


def _base_env(tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GENSERVE_"))},
        # the job's image has genserve on PATH; here, this checkout's environment
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "GENSERVE_PORT": str(_free_port()),
        "GENSERVE_OUTPUT_DIR": str(tmp_path / "service" / "outputs"),
        "GENSERVE_DATA_DIR": str(tmp_path / "service" / "data"),
    }


def _sh(
    script: str, cwd: Path, env: dict[str, str], shell: tuple[str, ...]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*shell, script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _expr(value: str, ctx: dict[str, dict[str, str]]) -> str:
    """GitHub's `${{ secrets.X }}`, `${{ vars.X }}` and `${{ vars.X || 'default' }}`."""

    def one(match: re.Match[str]) -> str:
        alternatives = [a.strip() for a in match.group(1).split("||")]
        for alt in alternatives:
            if alt.startswith("'"):
                return alt.strip("'")
            scope, _, name = alt.partition(".")
            if ctx.get(scope, {}).get(name):
                return ctx[scope][name]
        return ""

    return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", one, value)


def _assert_stopped(pid_file: Path) -> None:
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _kill_left(pid_file: Path) -> None:
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def _s3_keys(s3: Any, prefix: str) -> list[str]:
    listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_github_failing_gate_archives_notifies_and_stops(
    tmp_path: Path, s3_server: Any, receiver: Receiver
) -> None:
    wf = yaml.safe_load(render_pipeline("github", suite="failing.yaml", baseline=BASELINE, notify="wecom"))
    job = wf["jobs"]["gate"]
    work = _checkout(tmp_path)
    ctx = {
        "vars": {
            "GENSERVE_ARCHIVE_URL": f"s3://{s3_server.bucket}/gh-archive",
            "GENSERVE_S3_ENDPOINT": s3_server.endpoint,
            "GENSERVE_S3_REGION": s3_server.region,
        },
        "secrets": {
            "GENSERVE_NOTIFY_URL": receiver.url,
            "GENSERVE_S3_KEY_ID": s3_server.access_key,
            "GENSERVE_S3_SECRET": s3_server.secret_key,
        },
    }
    env = _base_env(tmp_path)
    env.update({k: _expr(str(v), ctx) for k, v in job["env"].items() if k != "GENSERVE_PORT"})
    env.update(
        {
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "GITHUB_SHA": "0123456789abcdef",
            "GITHUB_RUN_ID": "42",
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "acme/app",
        }
    )
    outcome: dict[str, int | None] = {}
    failed = False
    try:
        for step in job["steps"]:
            if "run" not in step:
                continue
            cond = step.get("if", "")
            if failed and not cond.startswith("always()"):
                outcome[step["name"]] = None
                continue
            if "env.GENSERVE_ARCHIVE_URL != ''" in cond and not env["GENSERVE_ARCHIVE_URL"]:
                outcome[step["name"]] = None
                continue
            step_env = {**env, **{k: _expr(str(v), ctx) for k, v in step.get("env", {}).items()}}
            done = _sh(
                step["run"], work, step_env, ("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c")
            )
            outcome[step["name"]] = done.returncode
            failed = failed or done.returncode != 0
            print(step["name"], done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    finally:
        _kill_left(work / "logs" / "serve.pid")
    assert outcome["Run the quality gate"] == 9, outcome  # the gate failed: the job fails
    for name in (
        "Stop the service",
        "Archive reports, outputs and logs to S3-compatible storage",
        "Notify",
    ):
        assert outcome[name] == 0, (name, outcome)
    _assert_stopped(work / "logs" / "serve.pid")
    keys = _s3_keys(s3_server, "gh-archive/0123456789abcdef/42/")
    assert "gh-archive/0123456789abcdef/42/gate-report/results.json" in keys
    assert "gh-archive/0123456789abcdef/42/logs/serve.log" in keys
    (body,) = receiver.bodies
    text = body["markdown"]["content"]
    assert body["msgtype"] == "markdown" and "FAIL" in text and "inference_time" in text
    assert "0123456789abcdef" in text and "https://github.example/acme/app/actions/runs/42" in text


def test_gitlab_failing_gate_archives_notifies_and_stops(
    tmp_path: Path, s3_server: Any, receiver: Receiver
) -> None:
    doc = yaml.safe_load(
        render_pipeline("gitlab", suite="failing.yaml", baseline=BASELINE, notify="dingtalk")
    )
    work = _checkout(tmp_path)
    env = _base_env(tmp_path)
    env.update({k: str(v) for k, v in doc["variables"].items() if k != "GENSERVE_PORT"})
    env.update(
        {
            "CI_PROJECT_DIR": str(work),
            "CI_COMMIT_SHA": "fedcba9876543210",
            "CI_PIPELINE_ID": "77",
            "CI_PIPELINE_URL": "https://gitlab.example/acme/app/-/pipelines/77",
            "GENSERVE_ARCHIVE_URL": f"s3://{s3_server.bucket}/gl-archive",
            "GENSERVE_NOTIFY_URL": receiver.url,
            # project variables for the S3 server, read by genserve's S3 client
            **{k: v for k, v in s3_server.env.items() if k.startswith("AWS_")},
        }
    )
    sh = ("sh", "-ec")
    gate = doc["quality-gate"]
    try:
        # GitLab runs the script's lines as one shell script that stops at the first failure
        script = _sh("\n".join(gate["script"]), work, {**env, **gate["variables"]}, sh)
        after = _sh("\n".join(gate["after_script"]), work, env, sh)
    finally:
        _kill_left(work / "logs" / "serve.pid")
    assert script.returncode == 9, script.stderr[-3000:]  # the gate failed
    assert after.returncode == 0, after.stderr
    _assert_stopped(work / "logs" / "serve.pid")
    report = doc["gate-report"]
    assert report["when"] == "always"
    done = _sh("\n".join(report["script"]), work, env, sh)
    assert done.returncode == 0, done.stdout + done.stderr
    keys = _s3_keys(s3_server, "gl-archive/fedcba9876543210/77/")
    assert "gl-archive/fedcba9876543210/77/gate-report/junit.xml" in keys
    (body,) = receiver.bodies
    assert body["msgtype"] == "markdown" and "FAIL" in body["markdown"]["text"]
    assert "https://gitlab.example/acme/app/-/pipelines/77" in body["markdown"]["text"]
    # the report job's own failures show: an unreachable robot fails it
    env["GENSERVE_NOTIFY_URL"] = "http://127.0.0.1:9/unreachable"
    failing = _sh("\n".join(report["script"]), work, env, sh)
    assert failing.returncode == 1 and "unreachable" in failing.stderr


def test_jenkins_failing_gate_archives_notifies_and_stops(
    tmp_path: Path, s3_server: Any, receiver: Receiver
) -> None:
    text = render_pipeline("jenkins", suite="failing.yaml", baseline=BASELINE, notify="feishu")
    start, gate, stop, upload, notify = re.findall(r"\bsh\s+(?:'''(.*?)'''|'([^'\n]*)')", text, flags=re.S)[
        :5
    ]
    top_env = text.split("    environment {", 1)[1].split("}", 1)[0]
    work = _checkout(tmp_path)
    env = _base_env(tmp_path)
    env.update({k: v for k, v in re.findall(r"(\w+) = '([^']*)'", top_env) if k != "GENSERVE_PORT"})
    env.update(
        {
            "GIT_COMMIT": "a1b2c3d4e5f6",
            "BUILD_NUMBER": "9",
            "BUILD_URL": "https://jenkins.example/job/app/9/",
            "GENSERVE_ARCHIVE_URL": f"s3://{s3_server.bucket}/jk-archive",
        }
    )
    sh = ("sh", "-xec")  # Jenkins' sh step
    credentials = {
        "upload": {k: v for k, v in s3_server.env.items() if k.startswith("AWS_")},
        "notify": {"GENSERVE_NOTIFY_URL": receiver.url},
    }
    try:
        # the stage's steps: a failing one skips the rest of the stage
        started = _sh("".join(start), work, env, sh)
        assert started.returncode == 0, started.stderr[-3000:]
        judged = _sh("".join(gate), work, env, sh)
        # post { always }: every step runs; upload and notify each inside catchError
        post = {
            "stop": _sh("".join(stop), work, env, sh),
            "upload": _sh("".join(upload), work, {**env, **credentials["upload"]}, sh),
            "notify": _sh("".join(notify), work, {**env, **credentials["notify"]}, sh),
        }
    finally:
        _kill_left(work / "logs" / "serve.pid")
    assert judged.returncode == 9, judged.stderr[-3000:]
    assert {k: v.returncode for k, v in post.items()} == {"stop": 0, "upload": 0, "notify": 0}, post
    _assert_stopped(work / "logs" / "serve.pid")
    assert "jk-archive/a1b2c3d4e5f6/9/gate-report/summary.md" in _s3_keys(s3_server, "jk-archive/")
    (body,) = receiver.bodies
    assert body["msg_type"] == "text" and "FAIL" in body["content"]["text"]
    assert "https://jenkins.example/job/app/9/" in body["content"]["text"]


def _tekton_value(value: str, refs: dict[str, str]) -> str:
    return re.sub(r"\$\(([^)\s]+)\)", lambda m: refs[m.group(1)], value)


def _tekton_task(
    spec: dict[str, Any], params: dict[str, str], work: Path, tmp: Path, env: dict[str, str]
) -> dict[str, int]:
    """A Task's steps in order, as the Tekton entrypoint runs them: a step that fails stops the
    task unless it has `onError: continue`; every step's exit code is in its exitCode file."""
    results, steps_dir = tmp / "results", tmp / "steps"
    results.mkdir(parents=True)
    refs = {f"params.{p['name']}": params.get(p["name"], p.get("default", "")) for p in spec["params"]}
    refs.update({f"results.{r['name']}.path": str(results / r["name"]) for r in spec.get("results", [])})
    refs.update({f"workspaces.{w['name']}.path": str(work) for w in spec.get("workspaces", [])})
    refs["context.taskRun.name"] = "genserve-quality-gate-run-x-report"
    for step in spec["steps"]:
        (steps_dir / f"step-{step['name']}").mkdir(parents=True)
        refs[f"steps.step-{step['name']}.exitCode.path"] = str(
            steps_dir / f"step-{step['name']}" / "exitCode"
        )
    codes: dict[str, int] = {}
    for step in spec["steps"]:
        step_env = dict(env)
        for item in step.get("env", []):
            if "value" in item:
                step_env[item["name"]] = _tekton_value(item["value"], refs)
            else:  # a Secret's key (all optional here): the test's credentials, when it has them
                step_env.setdefault(item["name"], "")
        cwd = Path(_tekton_value(step.get("workingDir", str(tmp)), refs))
        done = _sh(step["script"], cwd, step_env, ("sh", "-c"))
        codes[step["name"]] = done.returncode
        (steps_dir / f"step-{step['name']}" / "exitCode").write_text(str(done.returncode))
        print(step["name"], done.returncode, done.stdout[-1500:], done.stderr[-1500:])
        if done.returncode != 0 and step.get("onError") != "continue":
            break
    return codes


def test_tekton_failing_gate_archives_notifies_and_stops(
    tmp_path: Path, s3_server: Any, receiver: Receiver
) -> None:
    docs = list(
        yaml.safe_load_all(render_pipeline("tekton", suite="failing.yaml", baseline=BASELINE, notify="slack"))
    )
    gate_task = next(
        d for d in docs if d["kind"] == "Task" and d["metadata"]["name"] == "genserve-quality-gate"
    )
    report_task = next(
        d for d in docs if d["kind"] == "Task" and d["metadata"]["name"] == "genserve-gate-report"
    )
    work = _checkout(tmp_path)
    env = _base_env(tmp_path)
    port = env.pop("GENSERVE_PORT")
    # the sidecar, on a free port (the Task's server-url param says where it is)
    sidecar = gate_task["spec"]["sidecars"][0]
    args = [a if a != "7860" else port for a in sidecar["args"]]
    service = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "genserve"), *args],
        cwd=tmp_path,
        env={
            **env,
            "GENSERVE_DATA_DIR": str(tmp_path / "svc"),
            "GENSERVE_OUTPUT_DIR": str(tmp_path / "svc-out"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        gate = _tekton_task(
            gate_task["spec"], {"server-url": f"http://127.0.0.1:{port}"}, work, tmp_path / "gate", env
        )
    finally:
        service.send_signal(signal.SIGTERM)  # Tekton stops the sidecars when the steps are done
        service.wait(30)
    assert gate == {"init-results": 0, "wait-for-service": 0, "gate": 9, "verdict": 1}, gate
    assert (tmp_path / "gate" / "results" / "gate_status").read_text() == "fail"
    secrets = {
        **{k: v for k, v in s3_server.env.items() if k.startswith("AWS_")},
        "GENSERVE_NOTIFY_URL": receiver.url,
    }
    report = _tekton_task(
        report_task["spec"],
        {
            "archive-url": f"s3://{s3_server.bucket}/tk-archive",
            "gate-task-status": "Failed",
            "commit": "c0ffee",
        },
        work,
        tmp_path / "report",
        {**env, **secrets},
    )
    assert report == {"archive": 0, "notify": 0, "outcome": 0}, report
    keys = _s3_keys(s3_server, "tk-archive/")
    assert "tk-archive/genserve-quality-gate-run-x-report/gate-report/results.json" in keys
    (body,) = receiver.bodies
    assert "FAIL" in body["text"] and "c0ffee" in body["text"] and "inference_time" in body["text"]


def test_tekton_report_says_error_when_the_gate_wrote_nothing(
    tmp_path: Path, s3_server: Any, receiver: Receiver
) -> None:
    """The gate task never ran (say the clone failed): the finally task still reports, as error;
    with no report to keep the upload has nothing to do, and a refused notification fails the task
    after the archive step ran."""
    docs = list(yaml.safe_load_all(render_pipeline("tekton", suite="failing.yaml", baseline=BASELINE)))
    report_task = next(
        d for d in docs if d["kind"] == "Task" and d["metadata"]["name"] == "genserve-gate-report"
    )
    work = tmp_path / "empty-checkout"
    work.mkdir()
    env = {**_base_env(tmp_path), "GENSERVE_NOTIFY_URL": receiver.url}
    report = _tekton_task(
        report_task["spec"],
        {"archive-url": f"s3://{s3_server.bucket}/tk-none", "gate-task-status": "None"},
        work,
        tmp_path / "report",
        env,
    )
    assert report == {"archive": 0, "notify": 0, "outcome": 0}, report
    (body,) = receiver.bodies
    assert body["status"] == "error" and "did not finish" in body["reason"]
    env["GENSERVE_NOTIFY_URL"] = "http://127.0.0.1:9/unreachable"
    again = _tekton_task(report_task["spec"], {"gate-task-status": "None"}, work, tmp_path / "again", env)
    assert again == {"archive": 0, "notify": 4, "outcome": 1}, again
