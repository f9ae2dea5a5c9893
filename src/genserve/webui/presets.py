"""Presets per task (each TaskSpec's ``presets``): Fast / Standard / High quality. Standard is the
task's defaults (its recommended values); the others change only the fields that trade speed for
quality. A preset sets only those fields: the prompt, the seed and the motion the user chose stay."""

from __future__ import annotations

from typing import Any

from genserve.tasks import get_task
from genserve.webui.i18n import N_

PRESET_NAMES: tuple[str, ...] = (N_("Fast"), N_("Standard"), N_("High quality"))


def preset(task: str, name: str) -> dict[str, Any]:
    """The fields a preset governs (any preset of the task changes them), with its values."""
    spec = get_task(task)
    changes = spec.presets.get(name)
    if changes is None:
        from genserve.errors import InvalidInput

        raise InvalidInput(
            "is not a preset", argument="preset", value=name, fix=f"use one of: {', '.join(PRESET_NAMES)}"
        )
    governed = {key for change in spec.presets.values() for key in change}
    defaults = spec.params_model().model_dump()
    full = spec.params_model.model_validate({**defaults, **changes}).model_dump()
    return {key: full[key] for key in spec.params_model.model_fields if key in governed}
