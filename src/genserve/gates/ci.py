"""`genserve ci init`: pipeline templates (package data) for GitHub Actions, GitLab CI, Jenkins and
Tekton. Each runs in the genserve image (deploy/docker/Dockerfile), starts the service, waits until
it is ready, runs the gate through it, then on every path (pass, fail, evaluation error): stops the
service, archives reports, outputs and logs (`genserve ci upload`, S3-compatible storage when an
archive URL is set) and notifies (`genserve ci notify`, when the webhook secret is set)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from genserve.errors import Conflict, InvalidInput
from genserve.gates.ci_notify import FORMATS

# system -> (template file, where it goes by default)
SYSTEMS: dict[str, tuple[str, str]] = {
    "github": ("github.yml", ".github/workflows/genserve-gate.yml"),
    "gitlab": ("gitlab-ci.yml", ".gitlab-ci.yml"),
    "jenkins": ("Jenkinsfile", "Jenkinsfile"),
    "tekton": ("tekton.yaml", "tekton/genserve-gate.yaml"),
}
# NOTE: the CPU image of docs/deploy.md, built with the `gates` extra; each pipeline also reads it
# from a CI variable (GENSERVE_IMAGE) or a parameter, so a published name needs no new template
DEFAULT_IMAGE = "registry.example.com/genserve:0.1.0"
_IMAGE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@")


def _variant(text: str, *, bare: bool) -> str:
    """Keep the lines between `#@image`/`//@image` and `#@end` in the image variant, those between
    `#@bare` and `#@end` in the bare-Python one; drop the marker lines."""
    out, mode = [], ""
    for line in text.splitlines(keepends=True):
        marker = line.strip().lstrip("#/")
        if line.strip().startswith(("#@", "//@")) and marker in ("@image", "@bare", "@end"):
            mode = "" if marker == "@end" else marker[1:]
            continue
        if not mode or (mode == "bare") == bare:
            out.append(line)
    return "".join(out)


def render_pipeline(
    system: str,
    *,
    suite: str,
    baseline: str,
    notify: str = "webhook",
    image: str = DEFAULT_IMAGE,
    bare_python: bool = False,
) -> str:
    if system not in SYSTEMS:
        raise InvalidInput(
            "unknown CI system", argument="SYSTEM", value=system, fix=f"use one of: {', '.join(SYSTEMS)}"
        )
    if notify not in FORMATS:
        raise InvalidInput(
            "unknown notification format",
            argument="--notify",
            value=notify,
            fix=f"use one of: {', '.join(FORMATS)}",
        )
    if not image or not set(image) <= _IMAGE_CHARS:
        raise InvalidInput(
            "is not an image reference",
            argument="--image",
            value=image,
            fix="e.g. --image ghcr.io/acme/genserve:0.1.0",
        )
    if bare_python and system == "tekton":
        raise InvalidInput(
            "Tekton's steps and the service's sidecar run in the genserve image",
            argument="--bare-python",
            fix="leave it out and pass --image with your published genserve image",
        )
    text = _variant(
        files("genserve.gates").joinpath("ci_templates", SYSTEMS[system][0]).read_text(), bare=bare_python
    )
    for key, value in (
        ("@SUITE@", suite),
        ("@BASELINE@", baseline),
        ("@NOTIFY@", notify),
        ("@IMAGE@", image),
    ):
        text = text.replace(key, value)
    return text


def write_pipeline(
    system: str,
    *,
    out: Path | None = None,
    suite: str,
    baseline: str,
    notify: str = "webhook",
    image: str = DEFAULT_IMAGE,
    bare_python: bool = False,
    force: bool = False,
) -> Path:
    text = render_pipeline(
        system, suite=suite, baseline=baseline, notify=notify, image=image, bare_python=bare_python
    )
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
