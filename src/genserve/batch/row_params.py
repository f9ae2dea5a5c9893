"""A row's parameters: checked by the task's own Params model (CSV's strings typed: ``"16"`` -> 16),
one problem per broken rule; a prompt template rendered from git metadata into ``prompt``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from genserve.errors import GenserveError, InvalidInput, NotFound
from genserve.tasks import TaskSpec


class Prompts:
    """Templates rendered once per run (from git metadata, as the quality gate renders them)."""

    def __init__(self) -> None:
        self.done: dict[Path, tuple[str, dict[str, Any]] | GenserveError] = {}

    def render(self, path: Path) -> tuple[str, dict[str, Any]]:
        if path not in self.done:
            from genserve.gates.prompts import render_prompt

            try:
                self.done[path] = render_prompt(path)
            except GenserveError as exc:
                self.done[path] = exc
        found = self.done[path]
        if isinstance(found, GenserveError):
            raise found
        return found


def render_template(
    value: Any,
    params: dict[str, Any],
    spec: TaskSpec,
    base: Path,
    prompts: Prompts,
    found: list[GenserveError],
) -> tuple[str, dict[str, Any]] | None:
    argument = "prompt_template"
    if not isinstance(value, str) or not value.strip():
        found.append(InvalidInput("must be a path to a Jinja2 template", argument=argument, value=value))
        return None
    if "prompt" not in spec.params_model.model_fields:
        found.append(
            InvalidInput(
                f"{spec.name} takes no prompt", argument=argument, value=value, fix="remove prompt_template"
            )
        )
        return None
    if "prompt" in params:
        found.append(
            InvalidInput(
                "is given together with params.prompt",
                argument=argument,
                value=value,
                fix="keep one of the two",
            )
        )
        return None
    path = (base / value).resolve()
    if not path.is_file():
        found.append(
            NotFound(
                "template file does not exist",
                argument=argument,
                value=value,
                fix=f"paths are relative to the manifest's folder ({base})",
            )
        )
        return None
    try:
        return prompts.render(path)
    except GenserveError as exc:
        found.append(type(exc)(exc.reason, argument=argument, value=exc.value, fix=exc.fix))
        return None


def check_params(spec: TaskSpec, params: dict[str, Any], found: list[GenserveError]) -> dict[str, Any] | None:
    """The given parameters, typed by the task's model (``"16"`` -> 16); a problem per broken rule."""
    model = spec.params_model
    try:
        typed = model.model_validate(params).model_dump(mode="json")
    except ValidationError as exc:
        found.extend(_param_problems(spec, exc.errors(include_url=False)))
        return None
    return {k: typed[k] for k in params}


def _param_problems(spec: TaskSpec, errors: Iterable[Any]) -> list[GenserveError]:
    fields = spec.params_model.model_fields
    out: list[GenserveError] = []
    for err in errors:
        name = ".".join(str(p) for p in err["loc"]) or "params"
        argument = f"params.{name}"
        if err["type"] == "extra_forbidden":
            out.append(
                InvalidInput(
                    f"is not a parameter of {spec.name}",
                    argument=argument,
                    value=err.get("input"),
                    fix=f"use one of: {', '.join(fields)}",
                )
            )
            continue
        rule = err["msg"][0].lower() + err["msg"][1:]
        info = fields.get(name)
        fix = f"use a valid {name}"
        if info is not None and info.default not in (None, ""):
            fix += f", e.g. the default {name}={info.default}"
        elif info is None:
            fix = f"use one of: {', '.join(fields)}"
        out.append(InvalidInput(rule, argument=argument, value=err.get("input"), fix=fix))
    return out
