"""Presets per task (each TaskSpec's ``presets``), e.g. Fast / Standard / High quality. Standard is
the task's defaults (its recommended values); the others change only the fields that trade speed
for quality. A preset sets only those fields: the prompt, the seed and the motion the user chose
stay. A task that declares no presets gets no preset picker."""

from __future__ import annotations

from typing import Any

from genserve.errors import InvalidInput
from genserve.tasks import get_task
from genserve.webui.i18n import N_

# the names genserve's own tasks use (listed for the catalogues; a task may name its own)
PRESET_NAMES: tuple[str, ...] = (N_("Fast"), N_("Standard"), N_("High quality"))


def preset(task: str, name: str) -> dict[str, Any]:
    """The fields a preset governs (any preset of the task changes them), with its values."""
    spec = get_task(task)
    changes = spec.presets.get(name)
    if changes is None:
        choices = ", ".join(spec.presets) or "none: this task has no presets"
        raise InvalidInput("is not a preset", argument="preset", value=name, fix=f"use one of: {choices}")
    governed = {key for change in spec.presets.values() for key in change}
    defaults = spec.params_model().model_dump()
    full = spec.params_model.model_validate({**defaults, **changes}).model_dump()
    return {key: full[key] for key in spec.params_model.model_fields if key in governed}
