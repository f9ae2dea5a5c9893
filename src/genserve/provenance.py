"""Where a result came from: genserve and model versions, the git commit and the CI run."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from typing import Any

from genserve import __version__
from genserve.config import ci_environment


@lru_cache(maxsize=1)
def _local_git() -> dict[str, str]:
    """Commit and branch of the working directory's git checkout, when there is one."""
    found: dict[str, str] = {}
    for key, args in (("commit", ["rev-parse", "HEAD"]), ("branch", ["rev-parse", "--abbrev-ref", "HEAD"])):
        try:
            out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=2, check=False)
        except (OSError, subprocess.SubprocessError):
            return found
        if out.returncode == 0 and out.stdout.strip():
            found[key] = out.stdout.strip()
    return found


def provenance(backend_info: dict[str, Any] | None = None) -> dict[str, Any]:
    git = {**_local_git(), **ci_environment()}
    return {
        "genserve_version": __version__,
        "python": platform.python_version(),
        "host": platform.node(),
        **(backend_info or {}),
        **{f"git_{k}" if k in ("commit", "branch", "tag") else k: v for k, v in git.items()},
    }
