"""What `genserve run` (here) and `genserve submit` (to a server) both take: the task, its input
files and its parameters.

The input options are derived from the registered tasks when the command line is built, after the
modules in ``GENSERVE_PLUGINS`` are imported: every input a task declares is an option
``--<name>`` taking a file (repeatable when a task takes several), and ``--input NAME=FILE`` reaches
any input by name. No task is named here."""

from __future__ import annotations

import contextlib
import functools
import inspect
import keyword
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from typer.core import TyperGroup
from typer.main import get_command_from_info
from typer.models import CommandInfo

from genserve.errors import InvalidInput

PromptOpt = Annotated[str | None, typer.Option(help="Prompt (a task's `prompt` parameter)")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="A parameter, key=value (repeatable)")]
InputOpt = Annotated[
    list[str] | None,
    typer.Option("--input", metavar="NAME=FILE", help="Any input by name: --input image=a.png (repeatable)"),
]

INPUT_PREFIX = "input__"  # the Python name of a derived --<name> option


def load_plugins() -> None:
    """Import the modules in ``GENSERVE_PLUGINS`` so their tasks get options. Settings that do not
    load are left for the command to report (``genserve version`` must still answer)."""
    from pydantic import ValidationError

    from genserve.backends.registry import import_plugins
    from genserve.config import get_settings
    from genserve.errors import GenserveError

    with contextlib.suppress(GenserveError, ValidationError):
        import_plugins(get_settings())


def task_names() -> list[str]:
    from genserve.tasks import TASKS

    return list(TASKS)


def _task_arg() -> Any:
    return Annotated[str, typer.Argument(help=f"The task: {' | '.join(task_names())}")]


def _input_options(taken: set[str]) -> list[inspect.Parameter]:
    """One option per input name of the registered tasks (those not clashing with ``taken``)."""
    from genserve.tasks import TASKS

    by_name: dict[str, list[tuple[str, Any]]] = {}
    for spec in TASKS.values():
        for media in spec.inputs:
            by_name.setdefault(media.name, []).append((spec.name, media))
    options = []
    for name, uses in by_name.items():
        if name in taken or keyword.iskeyword(name):
            continue  # still reachable as --input NAME=FILE
        kinds = " or ".join(dict.fromkeys(m.kind for _, m in uses))
        tasks = ", ".join(t for t, _ in uses)
        many = [t for t, m in uses if m.multiple]
        text = f"The {kinds} file for {tasks}"
        if many:
            text += f"; repeat for a batch ({', '.join(many)})"
        annotation = list[Path] | None if many else Path | None
        option = typer.Option(f"--{name}", metavar="FILE", help=text, show_default=False)
        options.append(
            inspect.Parameter(
                INPUT_PREFIX + name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[annotation, option],
            )
        )
    return options


def _option_names(signature: inspect.Signature) -> set[str]:
    names = set()
    for param in signature.parameters.values():
        names.add(param.name.rstrip("_").replace("_", "-"))
        for meta in getattr(param.annotation, "__metadata__", ()):
            for decl in getattr(meta, "param_decls", None) or ():
                names.update(d.lstrip("-") for d in decl.split("/") if d.startswith("--"))
    return names


class TaskCommand:
    """A `run` or `submit` command whose task argument and input options come from the registered
    tasks: typer reads ``__signature__`` when it builds the command line, after plugins load.
    ``func`` takes ``task`` and ``inputs`` (input name -> files) with its other options."""

    def __init__(self, func: Callable[..., None]) -> None:
        functools.update_wrapper(self, func, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
        self.func = func

    def _base(self) -> inspect.Signature:
        return inspect.signature(self.func, eval_str=True)

    @property
    def __signature__(self) -> inspect.Signature:
        load_plugins()
        base = self._base()
        keyword_only = inspect.Parameter.KEYWORD_ONLY
        params = [
            p.replace(kind=keyword_only) for p in base.parameters.values() if p.name not in ("task", "inputs")
        ]
        first = [base.parameters["task"].replace(annotation=_task_arg())]
        taken = _option_names(base) | {"help", "input"}
        by_name = inspect.Parameter("input", keyword_only, default=None, annotation=InputOpt)
        return base.replace(parameters=[*first, *_input_options(taken), by_name, *params])

    @property
    def __annotations__(self) -> dict[str, Any]:  # type: ignore[override]  # typer resolves types through get_type_hints
        return {p.name: p.annotation for p in self.__signature__.parameters.values()}

    def __call__(self, task: str, input: list[str] | None = None, **options: Any) -> None:
        files: dict[str, list[Path]] = {}
        for key in [k for k in options if k.startswith(INPUT_PREFIX)]:
            value = options.pop(key)
            if value:
                files[key[len(INPUT_PREFIX) :]] = list(value) if isinstance(value, list) else [value]
        for name, path in parse_named_files(input or []):
            files.setdefault(name, []).append(path)
        self.func(task=task, inputs=files, **options)


class TaskCommandsGroup(TyperGroup):
    """The root group: `run` and `submit` are built when they are called (or listed by --help), so
    loading the tasks and plugins their options come from costs nothing to the other commands."""

    builders: ClassVar[dict[str, Callable[..., None]]] = {}

    # typer's click (typer._click) types its Context and Command: these overrides take any
    def list_commands(self, ctx: Any) -> list[str]:
        return [*[n for n in self.builders if n not in self.commands], *super().list_commands(ctx)]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and args[0] not in self.builders:
            for name in self.builders:  # a mistyped command: "Did you mean" weighs every name
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        func = self.builders.get(cmd_name)
        if func is not None and cmd_name not in self.commands:
            info = CommandInfo(name=cmd_name, callback=TaskCommand(func))
            command = get_command_from_info(info, pretty_exceptions_short=False, rich_markup_mode=None)
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


def task_command(name: str, func: Callable[..., None]) -> None:
    """Add a command of the root group whose task argument and input options are derived from the
    registered tasks (``func`` takes ``task`` and ``inputs``: input name -> files)."""
    TaskCommandsGroup.builders[name] = func


def parse_named_files(pairs: list[str]) -> list[tuple[str, Path]]:
    """--input name=path pairs."""
    found = []
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InvalidInput(
                "must look like NAME=FILE", argument="--input", value=pair, fix="e.g. --input image=photo.png"
            )
        found.append((name.strip(), Path(path.strip())))
    return found


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """--set key=value pairs; values stay strings (the task's Params model converts them)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(
                "must look like key=value", argument="--set", value=pair, fix="e.g. --set num_frames=16"
            )
        params[key.strip()] = None if value.strip().lower() in ("none", "null") else value
    return params


def job_params(prompt: str | None, sets: list[str] | None) -> dict[str, Any]:
    """The job's parameters: the --set pairs, and --prompt as ``prompt``."""
    params = parse_sets(sets or [])
    if prompt is not None:
        params["prompt"] = prompt
    return params
