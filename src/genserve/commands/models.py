"""`genserve models`: fetch model weights ahead of time and see which are on this machine."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from genserve.commands import console


def register(app: typer.Typer) -> None:
    models = console.new_typer(help="Model weights: pull them ahead of time, list what is here.")

    @models.command("pull")
    def pull(
        name: Annotated[
            str, typer.Argument(help="A backend name (its default model, e.g. i2vgen-xl) or a hub id")
        ],
        variant: Annotated[
            str | None, typer.Option(help="Weight variant, e.g. fp16 (default: the backend's)")
        ] = None,
    ) -> None:
        """Download a model into the model cache (GENSERVE_MODEL_CACHE_DIR) and print where it is."""
        from genserve.config import get_settings
        from genserve.models import pull as pull_model

        typer.echo(json.dumps(pull_model(name, get_settings(), variant=variant), indent=2))

    @models.command("list")
    def list_(
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    ) -> None:
        """Each model-based backend's default model and whether its weights are on this machine."""
        from genserve.config import get_settings
        from genserve.models import list_models

        rows = list_models(get_settings())
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = [
            (
                row["backend"],
                row["model"],
                ("present" + (f" ({row['revision'][:12]})" if row["revision"] else ""))
                if row["present"]
                else "absent",
                row["get"] or "",
            )
            for row in rows
        ]
        typer.echo(
            console.table(("backend", "model", "here", "to get it"), table, empty="no model-based backends")
        )

    app.add_typer(models, name="models")
