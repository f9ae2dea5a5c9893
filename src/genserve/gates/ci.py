"""`genserve ci init`: pipeline templates (package data) for GitHub Actions, GitLab CI, Jenkins and
Tekton. Each starts (or reaches) the service, waits until it is ready, runs the gate through it,
archives outputs and reports (S3-compatible storage when a bucket is set) and has a notification
step to fill in."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from genserve.errors import Conflict, InvalidInput

# system -> (template file, where it goes by default)
SYSTEMS: dict[str, tuple[str, str]] = {
    "github": ("github.yml", ".github/workflows/genserve-gate.yml"),
    "gitlab": ("gitlab-ci.yml", ".gitlab-ci.yml"),
    "jenkins": ("Jenkinsfile", "Jenkinsfile"),
    "tekton": ("tekton.yaml", "tekton/genserve-gate.yaml"),
}


def render_pipeline(system: str, *, suite: str, baseline: str) -> str:
    if system not in SYSTEMS:
        raise InvalidInput(
            "unknown CI system", argument="SYSTEM", value=system, fix=f"use one of: {', '.join(SYSTEMS)}"
        )
    text = files("genserve.gates").joinpath("ci_templates", SYSTEMS[system][0]).read_text()
    return text.replace("@SUITE@", suite).replace("@BASELINE@", baseline)


def write_pipeline(
    system: str, *, out: Path | None = None, suite: str, baseline: str, force: bool = False
) -> Path:
    text = render_pipeline(system, suite=suite, baseline=baseline)
    path = out or Path(SYSTEMS[system][1])
    if path.exists() and not force:
        raise Conflict(
            "file exists; it is not overwritten",
            argument="--out",
            value=str(path),
            fix="pass --force or --out FILE",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
