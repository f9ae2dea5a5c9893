"""What `genserve run` (here) and `genserve submit` (to a server) both take: the task, its input
files and its parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from genserve.errors import InvalidInput

TaskArg = Annotated[str, typer.Argument(help="image-to-video | talking-head | recognize")]
ImageOpt = Annotated[list[Path] | None, typer.Option("--image", help="Input image (repeat for a batch)")]
AudioOpt = Annotated[Path | None, typer.Option(help="Input audio (talking-head)")]
PromptOpt = Annotated[str | None, typer.Option(help="Prompt (image-to-video)")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="A parameter, key=value (repeatable)")]


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
