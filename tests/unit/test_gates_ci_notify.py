"""`genserve ci notify` against a local HTTP receiver that answers as each robot does (Slack, WeCom,
DingTalk with its signature, Feishu with its signature, a plain JSON webhook); refusals and missing
reports are errors a pipeline sees. `genserve ci upload` copies report directories to a real S3
server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from genserve.cli import app

ANSWERS = {
    "slack": (200, "ok"),
    "wecom": (200, '{"errcode":0,"errmsg":"ok"}'),
    "dingtalk": (200, '{"errcode":0,"errmsg":"ok"}'),
    "feishu": (200, '{"code":0,"msg":"success"}'),
    "webhook": (204, ""),
}


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: tuple[int, str] = (200, "ok")
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {
                        "path": self.path,
                        "type": self.headers["Content-Type"],
                        "json": json.loads(body),
                    }
                )
                status, text = receiver.answer
                self.send_response(status)
                self.send_header("Content-Length", str(len(text.encode())))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _failed_report(root: Path) -> Path:
    report = root / "gate-report"
    report.mkdir()
    checks = [
        {"id": "av_offset", "metric": "av_offset", "status": "fail", "reason": "worst 6 > max 2"},
        {"id": "flicker", "metric": "flicker", "status": "pass", "reason": ""},
        {"id": "lse_d", "metric": "lse_d", "status": "skipped", "reason": "no weights"},
    ]
    doc = {"suite": {"name": "weightfree"}, "judgement": {"status": "fail", "exit_code": 1, "checks": checks}}
    (report / "results.json").write_text(json.dumps(doc))
    return report


def _notify(report: Path, fmt: str, url: str, *extra: str, secret: str = "") -> Any:
    args = [
        "ci",
        "notify",
        str(report),
        "--to",
        fmt,
        "--commit",
        "abc123",
        "--link",
        "https://ci/run/7",
        *extra,
    ]
    env = {"GENSERVE_NOTIFY_URL": url, "GENSERVE_NOTIFY_SECRET": secret}
    return CliRunner().invoke(app, args, env=env)


@pytest.mark.parametrize("fmt", list(ANSWERS))
def test_each_format_delivers_the_verdict(fmt: str, receiver: Receiver, tmp_path: Path) -> None:
    receiver.answer = ANSWERS[fmt]
    result = _notify(_failed_report(tmp_path), fmt, receiver.url + "/hook?access_token=t")
    assert result.exit_code == 0, result.output
    (req,) = receiver.requests
    assert req["type"] == "application/json"
    body = req["json"]
    text = {
        "slack": lambda b: b["text"],
        "wecom": lambda b: b["markdown"]["content"],
        "dingtalk": lambda b: b["markdown"]["text"],
        "feishu": lambda b: b["content"]["text"],
        "webhook": lambda b: b["text"],
    }[fmt](body)
    for words in ("FAIL", "weightfree", "abc123", "av_offset", "worst 6 > max 2", "https://ci/run/7"):
        assert words in text, (fmt, words, text)
    assert "flicker" not in text and "lse_d" not in text  # only what failed
    if fmt == "wecom":
        assert body["msgtype"] == "markdown"
    if fmt == "dingtalk":
        assert body["msgtype"] == "markdown" and body["markdown"]["title"].endswith("fail")
    if fmt == "feishu":
        assert body["msg_type"] == "text"
    if fmt == "webhook":
        assert body["status"] == "fail" and body["commit"] == "abc123"
        assert body["failed_checks"] == [{"id": "av_offset", "reason": "worst 6 > max 2"}]


def test_dingtalk_and_feishu_sign(receiver: Receiver, tmp_path: Path) -> None:
    report = _failed_report(tmp_path)
    receiver.answer = ANSWERS["dingtalk"]
    assert (
        _notify(report, "dingtalk", receiver.url + "/robot/send?access_token=t", secret="SECxyz").exit_code
        == 0
    )
    query = parse_qs(urlsplit(receiver.requests[-1]["path"]).query)
    ts = query["timestamp"][0]
    expected = hmac.new(b"SECxyz", f"{ts}\nSECxyz".encode(), hashlib.sha256).digest()
    assert query["sign"][0] == base64.b64encode(expected).decode() and query["access_token"] == ["t"]
    receiver.answer = ANSWERS["feishu"]
    assert _notify(report, "feishu", receiver.url + "/hook/x", secret="fs").exit_code == 0
    body = receiver.requests[-1]["json"]
    key = f"{body['timestamp']}\nfs".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def test_no_report_is_an_error_verdict(receiver: Receiver, tmp_path: Path) -> None:
    """The service never became ready: no results.json, and the message still goes out."""
    receiver.answer = ANSWERS["webhook"]
    result = _notify(tmp_path / "gate-report", "webhook", receiver.url)
    assert result.exit_code == 0, result.output
    body = receiver.requests[0]["json"]
    assert body["status"] == "error" and "did not finish" in body["reason"]


def test_refusals_fail_visibly(receiver: Receiver, tmp_path: Path) -> None:
    report = _failed_report(tmp_path)
    receiver.answer = (200, '{"errcode":310000,"errmsg":"keywords not in content"}')
    result = _notify(report, "dingtalk", receiver.url)
    assert result.exit_code == 4 and "keywords not in content" in result.output
    receiver.answer = (404, "no_service")
    result = _notify(report, "slack", receiver.url)
    assert result.exit_code == 4 and "404" in result.output
    result = _notify(report, "slack", "")
    assert result.exit_code == 2 and "GENSERVE_NOTIFY_URL" in result.output
    result = _notify(report, "teams", receiver.url)
    assert result.exit_code == 2 and "slack, wecom, dingtalk, feishu, webhook" in result.output


def test_upload_copies_reports_and_logs_to_s3(s3_server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    report = _failed_report(tmp_path)
    (report / "outputs").mkdir()
    (report / "outputs" / "a.mp4").write_bytes(b"\0" * 100)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "serve.log").write_text("started\n")
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    url = f"s3://{s3_server.bucket}/ci-upload/abc123"
    result = CliRunner().invoke(app, ["ci", "upload", "gate-report", "logs", "missing", "--to", url])
    assert result.exit_code == 0, result.output
    assert "missing: not there, skipped" in result.output
    listed = s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix="ci-upload/abc123/")
    keys = sorted(o["Key"] for o in listed["Contents"])
    assert keys == [
        "ci-upload/abc123/gate-report/outputs/a.mp4",
        "ci-upload/abc123/gate-report/results.json",
        "ci-upload/abc123/logs/serve.log",
    ]
    # refused credentials: the object named, a non-zero exit
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    bad = CliRunner().invoke(app, ["ci", "upload", "logs", "--to", url])
    assert bad.exit_code == 4 and f"{url}/logs/serve.log failed" in bad.output, bad.output
    bad = CliRunner().invoke(app, ["ci", "upload", "logs", "--to", "https://x/y"])
    assert bad.exit_code == 2 and "s3://" in bad.output
