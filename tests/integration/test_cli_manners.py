"""The CLI as a newcomer meets it: usage errors, messages as text, tables, exit codes from one
table, fixes in the CLI's words. In process through ``genserve.cli.main`` (what the console script
runs), so click's own handling of usage errors is what is tested."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from genserve import __version__
from genserve.cli import main
from genserve.commands import console
from genserve.commands.serve import check_port
from genserve.config import Settings
from genserve.jobs import JobRequest
from genserve.jobs.request import prepare


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ended:
        main(list(args))
    out, err = capsys.readouterr()
    code = ended.value.code
    return (code if isinstance(code, int) else 0 if code is None else 1), out, err


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENSERVE_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("GENSERVE_DATA_DIR", str(tmp_path / "data"))
    from genserve.config import get_settings

    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["runn"], "No such command 'runn'. Did you mean 'run'?"),
        (["run", "image-to-video", "--bogus"], "No such option: --bogus"),
        (["run", "image-to-video", "--quiet", "true"], "unexpected extra argument(s) (true)"),
        (["jobs", "lst"], "Did you mean 'list'?"),
        (["submit", "image-to-video", "--priority", "1000"], "Invalid value for '--priority'"),
    ],
)
def test_usage_errors_are_clicks_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    code, _, err = cli(capsys, *args)
    assert code == 2 and said in err, err
    assert "Traceback" not in err and "typer._click" not in err
    assert err.rstrip().splitlines()[-1].startswith("Error: ")


def test_version_and_bare_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "--version") == (0, f"genserve {__version__}\n", "")
    code, out, err = cli(capsys)  # no command: the help, as a usage error
    assert code == 2 and "Usage: genserve" in out + err and "Traceback" not in out + err


def test_help_shows_flags_as_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "--help")
    assert code == 0 and "--quiet" in out
    assert "<bool>" not in out  # nothing invites `--quiet true`
    for command in (["submit"], ["jobs", "list"], ["gate", "metrics"], ["models", "list"]):
        assert "<bool>" not in cli(capsys, *command, "--help")[1]


def test_messages_are_text_not_markup(capsys: pytest.CaptureFixture[str], sample_image: Path) -> None:
    code, _, err = cli(capsys, "run", "image-to-video", "--image", str(sample_image), "--set", "[bold]=1")
    assert code == 2 and "[bold]: is not a parameter of image-to-video" in err
    assert "\x1b[" not in err  # not a terminal: no colour either


def test_parameter_fix_says_the_range_and_the_default(
    capsys: pytest.CaptureFixture[str], sample_image: Path
) -> None:
    code, _, err = cli(
        capsys, "run", "image-to-video", "--image", str(sample_image), "--set", "fps=100", "-q"
    )
    assert code == 2
    assert "Fix: use a fps from 1 to 60 (the default is 8)" in err and "should be" not in err.split("Fix:")[1]
    code, _, err = cli(
        capsys, "run", "image-to-video", "--image", str(sample_image), "--set", "resolution=9p", "-q"
    )
    assert "Fix: use one of '256p', '384p', '512p', '768p', '1024p' (the default is '512p')" in err


def test_missing_input_fix_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "run", "image-to-video", "-q")
    assert code == 2 and "image: is required. Fix: pass --image FILE" in err


def test_one_warning_for_a_parameter_the_backend_ignores(settings: Settings, sample_image: Path) -> None:
    request = JobRequest(
        task="talking-head",
        inputs={"image": sample_image, "audio": Path("tests/assets/speech.wav")},
        params={"inference_steps": 10},
        backend="portrait",
    )
    try:
        warnings = prepare(request, settings).warnings
    except Exception as exc:  # the sample may hold no face; the warnings are decided before the face check
        pytest.skip(f"prepare refused the sample: {exc}")
    assert warnings == ["inference_steps is not used by the portrait backend"]


def test_a_refused_file_is_named_as_the_client_sent_it(settings: Settings, tmp_path: Path) -> None:
    stored = tmp_path / "image_0_a2eacb01.png"
    stored.write_text("not an image")
    request = JobRequest(task="recognize", inputs={"image": [stored]}, input_names={"image": ["my scan.png"]})
    with pytest.raises(Exception) as refused:
        prepare(request, settings)
    assert "'my scan.png'" in str(refused.value) and "a2eacb01" not in str(refused.value)


def test_tables_have_headers_and_keep_install_steps_out_of_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = cli(capsys, "backends")
    assert code == 0
    assert "backend   available  default  notes" in out
    table_lines = out.split("to make the others available:")[0].splitlines()
    assert not any("git clone" in line or "pip install" in line for line in table_lines)
    if "to make the others available:" in out:
        steps = out.split("to make the others available:")[1].splitlines()
        assert all(line.startswith("  ") for line in steps if line)
    code, out, _ = cli(capsys, "doctor")
    assert code == 0 and out.splitlines()[0].startswith("python") and "task" in out and "why not" in out
    code, out, _ = cli(capsys, "models", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["backend", "model", "here", "to", "get", "it"]
    sonic = next(line for line in lines if line.startswith("sonic"))
    assert "genserve models pull sonic" not in sonic and "see `genserve backends`" in sonic
    code, _, err = cli(capsys, "models", "pull", "sonic")
    assert code == 2 and "gets its weights its own way" in err
    code, out, _ = cli(capsys, "gate", "metrics")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["metric", "unit", "better"]
    assert "GENSERVE_GATE_SYNCNET_WEIGHTS" in out and " gate_syncnet_weights" not in out


def test_modelscope_general_is_unavailable_without_modelscope(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    import importlib.util

    from genserve.backends.modelscope_general import ModelScopeGeneralBackend

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "modelscope" else real(name, *a)
    )
    state = ModelScopeGeneralBackend.availability(settings)
    assert not state.ok and "modelscope" in state.reason
    assert state.install == "pip install 'genserve[modelscope]'" and state.explicit_ok
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"genserve[modelscope]",' in pyproject.split("all = [")[1].split("]\n")[0]


def test_cli_words_for_the_servers_fixes() -> None:
    said = console.in_cli_terms(
        "Authorization: the API key is not valid. Fix: send the header 'Authorization: Bearer <key>' "
        "with a key from GENSERVE_API_KEYS"
    )
    assert said.startswith("--api-key: ") and "pass --api-key KEY" in said and "header" not in said
    said = console.in_cli_terms("job_id: no such job; got 'nope'. Fix: GET /v1/jobs lists your jobs")
    assert "`genserve jobs list` shows your jobs" in said and "GET" not in said


def test_table_and_fit() -> None:
    assert console.table(("a", "bb"), [], empty="no jobs") == "no jobs"
    assert console.table(("id", "status"), [("x", "ok"), ("long-id", "failed")], empty="") == (
        "id       status\nx        ok\nlong-id  failed"
    )
    assert console.fit("one two three four", 12) == "one two…"


def test_port_in_time_wait_is_free_and_a_listener_is_not() -> None:
    # a connection the server side closes first leaves the server's port in TIME-WAIT
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(Exception, match=f"port {port} is taken"):
            check_port("127.0.0.1", port)
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = server.accept()
        conn.close()
        client.recv(1)
        client.close()
    check_port("127.0.0.1", port)  # uvicorn binds it with SO_REUSEADDR: so does the check


def test_judge_without_baseline_keeps_a_failed_bound_as_the_reason() -> None:
    from genserve.gates.judge import _outcome
    from genserve.gates.registry import Measurement
    from genserve.gates.suite import Check

    check = Check.model_validate({"metric": "sharpness", "min": 5.0, "tolerance": {"relative": 0.05}})
    measured = Measurement(status="ok", value=3.0)
    out = _outcome(check, "case", "a", measured, None, True)
    assert out.status == "fail" and out.reason.startswith("3 < min 5")
    assert "no baseline value, so the tolerance was not applied" in out.reason


def test_gate_console_counts_skipped_checks_as_junit_does() -> None:
    from genserve.commands.gate import counts
    from genserve.gates.judge import CheckVerdict, Judgement, Outcome

    def verdict(status: str, outcomes: list[str]) -> CheckVerdict:
        return CheckVerdict.model_validate(
            {
                "id": status,
                "metric": "m",
                "status": status,
                "outcomes": [Outcome(case="c", asset=str(i), status=o) for i, o in enumerate(outcomes)],
            }
        )

    judged = Judgement(
        status="fail",
        exit_code=1,
        checks=[
            verdict("pass", ["pass", "pass"]),
            verdict("fail", ["fail", "pass"]),
            verdict("skipped", ["skipped"]),
        ],
    )
    assert counts(judged) == (
        "3 checks: 1 passed, 1 failed, 1 skipped; 5 test cases (junit.xml): 3 passed, 1 failed, 1 skipped"
    )


def test_recognize_prints_one_image_once(capsys: pytest.CaptureFixture[str], sample_image: Path) -> None:
    code, out, _ = cli(
        capsys, "run", "recognize", "--image", str(sample_image), "--set", "labels=false", "-q"
    )
    result = json.loads(out)
    assert code == 0 and result["items"] == [] and result["image_path"] == sample_image.name


def test_an_unreachable_hub_is_exit_3_in_one_whole_line(cli_env: dict[str, str]) -> None:
    pytest.importorskip("diffusers")
    import subprocess
    import sys

    env = {**cli_env, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_ETAG_TIMEOUT": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "genserve", "models", "pull", "svd"],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 3 and len(lines) == 1, proc.stderr  # no hub chatter around it
    assert "the model hub cannot be reached" in lines[0] and "Connection refused" in lines[0]
    assert "stacktrace above" not in lines[0] and lines[0].endswith("GENSERVE_MODEL_CACHE_DIR) here")
