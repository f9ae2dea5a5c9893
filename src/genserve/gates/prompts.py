"""Prompts from git metadata: versioned Jinja2 templates rendered with the commit message, branch,
tag and author, so a pipeline's prompt is reproducible from the commit that made it.

A template file declares its version in a leading comment::

    {# version: 2 #}
    A product video for "{{ message | first_line }}", branch {{ branch }}, cinematic, camera zooming in slowly
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

from genserve.config import ci_environment
from genserve.errors import InvalidInput, NotFound, missing_extra

_VERSION = re.compile(r"\{#-?\s*version:\s*([\w.-]+)\s*-?#\}")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def git_metadata() -> dict[str, str]:
    """commit, short_commit, branch, tag, message, author: CI variables first, the local checkout second."""
    env = ci_environment()
    meta = {
        "commit": env.get("commit") or _git("rev-parse", "HEAD") or "",
        "branch": env.get("branch") or _git("rev-parse", "--abbrev-ref", "HEAD") or "",
        "tag": env.get("tag") or _git("describe", "--tags", "--exact-match") or "",
        "message": _git("log", "-1", "--format=%B") or "",
        "author": _git("log", "-1", "--format=%an") or "",
    }
    meta["short_commit"] = meta["commit"][:8]
    return meta


def template_version(text: str) -> str:
    match = _VERSION.search(text)
    return match.group(1) if match else "unversioned"


def render_prompt(path: str | Path, overrides: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """(prompt, provenance of the prompt: template, version, sha256 and the git facts used)."""
    try:
        import jinja2
        import jinja2.sandbox
    except ImportError:
        raise missing_extra("jinja2", "gates") from None
    path = Path(path)
    if not path.is_file():
        raise NotFound(
            "prompt template does not exist", argument="template", value=str(path), fix="check the path"
        )
    text = path.read_text()
    facts = {**git_metadata(), **(overrides or {})}
    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["first_line"] = lambda s: str(s).strip().splitlines()[0] if str(s).strip() else ""
    try:
        rendered = env.from_string(text).render(**facts)
    except jinja2.TemplateError as exc:
        raise InvalidInput(
            f"cannot be rendered ({type(exc).__name__}: {exc})",
            argument="template",
            value=path.name,
            fix=f"use only these variables: {', '.join(sorted(facts))}",
        ) from None
    prompt = " ".join(rendered.split())
    record = {
        "template": path.name,
        "version": template_version(text),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "variables": {k: facts[k] for k in sorted(facts) if k != "message"}
        | {"message": facts["message"][:200]},
    }
    return prompt, record
