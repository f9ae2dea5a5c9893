"""`genserve ci notify`: the gate's verdict, its failing checks, the commit and a link to the report,
posted as JSON to a chat webhook (Slack, WeCom/企业微信, DingTalk/钉钉, Feishu/飞书) or any endpoint.

The verdict comes from the report directory's ``results.json``; a directory without one (the service
never became ready, the set-up failed, the evaluation errored) is reported as ``error``, so a
pipeline can call this on every path. Each format's body is what that service's incoming-webhook
robot accepts; the robots answer 200 with an error code in the body, which is checked too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from pydantic import ValidationError

from genserve.errors import BackendUnavailable, InvalidInput

FORMATS = ("slack", "wecom", "dingtalk", "feishu", "webhook")
ICONS = {"pass": "✅", "fail": "❌", "error": "⚠️"}
MAX_FAILED_SHOWN = 10  # chat messages stay short; the report has them all


@dataclass
class Verdict:
    status: str  # pass | fail | error
    suite: str = ""
    failed: list[tuple[str, str]] = field(default_factory=list)  # (check id, reason)
    reason: str = ""  # why the status is "error" when no judgement says so


def read_verdict(report_dir: Path) -> Verdict:
    """The verdict in REPORT_DIR/results.json; ``error`` with the reason when there is none."""
    from genserve.gates.judge import Judgement

    path = report_dir / "results.json"
    if not path.is_file():
        return Verdict("error", reason=f"no {path}: the gate did not finish (set-up, service or evaluation)")
    try:
        doc = json.loads(path.read_text())
        judgement = Judgement.model_validate(doc["judgement"])
        suite = str((doc.get("suite") or {}).get("name", ""))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return Verdict("error", reason=f"{path} is not a judged gate report ({_why(exc)})")
    failed = [(c.id, " ".join(c.reason.split())) for c in judgement.checks if c.status in ("fail", "error")]
    return Verdict(judgement.status, suite=suite, failed=failed)


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"judgement.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return repr(exc)


def render_text(verdict: Verdict, *, title: str, commit: str, link: str, markdown: bool) -> str:
    """One message: the verdict line, commit, failing checks (at most MAX_FAILED_SHOWN), the link."""
    head = f"{ICONS[verdict.status]} {title}: {verdict.status.upper()}"
    if verdict.suite:
        head += f" (suite {verdict.suite})"
    lines = [f"**{head}**" if markdown else head]
    if commit:
        lines.append(f"commit: {commit}")
    if verdict.reason:
        lines.append(verdict.reason)
    for check, reason in verdict.failed[:MAX_FAILED_SHOWN]:
        lines.append(f"- {check}: {reason}" if reason else f"- {check}")
    if len(verdict.failed) > MAX_FAILED_SHOWN:
        lines.append(f"- and {len(verdict.failed) - MAX_FAILED_SHOWN} more failing checks")
    if link:
        lines.append(f"[report]({link})" if markdown else f"report: {link}")
    return "\n".join(lines)


def build_payload(fmt: str, verdict: Verdict, *, title: str, commit: str, link: str) -> dict[str, Any]:
    """The JSON body FORMAT's webhook takes."""
    if fmt not in FORMATS:
        raise InvalidInput(
            "unknown notification format", argument="--to", value=fmt, fix=f"use one of: {', '.join(FORMATS)}"
        )
    md = render_text(verdict, title=title, commit=commit, link=link, markdown=True)
    plain = render_text(verdict, title=title, commit=commit, link=link, markdown=False)
    if fmt == "slack":
        # NOTE: Slack's mrkdwn links are <url|text>, bold is *x* (api.slack.com/reference/surfaces/formatting)
        text = plain if not link else plain.replace(f"report: {link}", f"<{link}|report>")
        return {"text": text}
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": md}}
    if fmt == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": f"{title}: {verdict.status}", "text": md}}
    if fmt == "feishu":
        return {"msg_type": "text", "content": {"text": plain}}
    return {
        "title": title,
        "status": verdict.status,
        "suite": verdict.suite,
        "commit": commit,
        "report_url": link,
        "failed_checks": [{"id": c, "reason": r} for c, r in verdict.failed],
        "reason": verdict.reason,
        "text": plain,
    }


def _sign(secret: str, timestamp: str, message: bytes) -> str:
    """DingTalk and Feishu robots' signature: base64(HMAC-SHA256) over "<timestamp>\\n<secret>"."""
    string_to_sign = f"{timestamp}\n{secret}".encode()
    if message:  # DingTalk: the string is the message, the secret the key
        digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    else:  # Feishu: the string is the key, the message empty
        digest = hmac.new(string_to_sign, b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_request(
    fmt: str, url: str, payload: dict[str, Any], secret: str, now: Callable[[], float] = time.time
) -> tuple[str, dict[str, Any]]:
    """Add the robot's signature where FORMAT has one (DingTalk: URL query; Feishu: the body)."""
    if not secret:
        return url, payload
    if fmt == "dingtalk":
        # NOTE: open.dingtalk.com "自定义机器人安全设置": timestamp in ms, sign URL-encoded
        ts = str(int(now() * 1000))
        sign = quote_plus(_sign(secret, ts, b"sign"))
        return f"{url}{'&' if '?' in url else '?'}timestamp={ts}&sign={sign}", payload
    if fmt == "feishu":
        # NOTE: open.feishu.cn "自定义机器人使用指南": timestamp in s, HMAC keyed by "<ts>\n<secret>"
        ts = str(int(now()))
        return url, {"timestamp": ts, "sign": _sign(secret, ts, b""), **payload}
    raise InvalidInput(
        "only DingTalk and Feishu robots sign requests",
        argument="--secret",
        fix="leave GENSERVE_NOTIFY_SECRET empty for this format",
    )


def _refused(fmt: str, body: str) -> str | None:
    """The robot's own error in a 200 answer (WeCom/DingTalk errcode, Feishu code), or None."""
    if fmt not in ("wecom", "dingtalk", "feishu"):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    code = doc.get("errcode", doc.get("code", doc.get("StatusCode", 0)))
    if code in (0, None):
        return None
    return f"error {code}: {doc.get('errmsg') or doc.get('msg') or doc.get('StatusMessage') or body[:200]}"


def send(fmt: str, url: str, payload: dict[str, Any], *, secret: str = "", timeout_s: float = 15.0) -> None:
    """POST PAYLOAD as JSON to URL; BackendUnavailable naming the host and the fix when it is refused."""
    import httpx

    if not url.startswith(("https://", "http://")):
        raise InvalidInput(
            "is not an http(s) URL",
            argument="--url",
            fix="set the CI secret GENSERVE_NOTIFY_URL to the robot's webhook URL",
        )
    url, payload = sign_request(fmt, url, payload, secret)
    host = httpx.URL(url).host
    try:
        answer = httpx.post(url, json=payload, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise BackendUnavailable(
            f"the {fmt} webhook at {host} is unreachable ({type(exc).__name__})",
            fix="check GENSERVE_NOTIFY_URL and the runner's network",
        ) from None
    if answer.status_code >= 300:
        raise BackendUnavailable(
            f"the {fmt} webhook at {host} answered {answer.status_code}: {answer.text[:200]}",
            fix="check GENSERVE_NOTIFY_URL (and GENSERVE_NOTIFY_SECRET for a signed robot)",
        )
    refused = _refused(fmt, answer.text)
    if refused:
        raise BackendUnavailable(
            f"the {fmt} webhook at {host} refused the message ({refused})",
            fix="check the robot's keyword, IP allowlist or signature secret (GENSERVE_NOTIFY_SECRET)",
        )
