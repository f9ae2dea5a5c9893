"""The backends where a batch runs (a server's ``/v1/backends``, or this process's registry): a row
naming a backend that is unknown there, belongs to another task or cannot run there is refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genserve.errors import GenserveError, InvalidInput, NotFound


@dataclass
class BackendCatalog:
    """The backends where the batch runs (a server's /v1/backends, or this process's registry)."""

    rows: list[dict[str, Any]]
    where: str = "here"

    def check(self, task: str, backend: str | None) -> GenserveError | None:
        if backend is None:
            usable = [r for r in self.rows if r["task"] == task and r.get("available")]
            if not usable:
                return InvalidInput(
                    f"no backend of {task} can run {self.where}",
                    argument="backend",
                    fix="install one (`genserve backends` says how) or name one in the row",
                )
            return None
        found = next((r for r in self.rows if r["backend"] == backend), None)
        if found is None:
            names = ", ".join(sorted(r["backend"] for r in self.rows if r["task"] == task)) or "none"
            return NotFound(
                f"is not a backend {self.where}",
                argument="backend",
                value=backend,
                fix=f"use one of {task}'s: {names}",
            )
        if found["task"] != task:
            return InvalidInput(
                f"belongs to the task {found['task']}, not to {task}",
                argument="backend",
                value=backend,
                fix="name a backend of the row's task, or leave backend out",
            )
        if not found.get("available"):
            install = f" ({found['install']})" if found.get("install") else ""
            return InvalidInput(
                f"cannot run {self.where}: {found.get('reason') or 'unavailable'}",
                argument="backend",
                value=backend,
                fix=f"install it{install} or name another backend",
            )
        return None
