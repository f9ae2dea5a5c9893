"""Presets per task: Fast / Standard / High quality. Standard is the task's defaults (the values
each model's authors recommend); the others change only the fields that trade speed for quality.
A preset sets only those fields: the prompt, the seed and the motion the user chose stay."""

from __future__ import annotations

from typing import Any

from genserve.tasks import get_task
from genserve.webui.i18n import N_

PRESET_NAMES: tuple[str, ...] = (N_("Fast"), N_("Standard"), N_("High quality"))

# NOTE: changes against each task's defaults (image-to-video: 512p, 16 frames, 8 fps, 50 steps,
# guidance 9; talking-head: 1024 px, 25 steps). "Fast" stays at or above 20 steps for talking-head:
# fewer steps make the face jitter (the same threshold the talking-head task warns at).
_CHANGES: dict[str, dict[str, dict[str, Any]]] = {
    "image-to-video": {
        "Fast": {"resolution": "256p", "num_frames": 8, "steps": 20},
        "Standard": {},
        "High quality": {"resolution": "768p", "num_frames": 24, "fps": 12, "steps": 75},
    },
    "talking-head": {
        "Fast": {"min_resolution": 512, "inference_steps": 20},
        "Standard": {},
        "High quality": {"min_resolution": 1024, "inference_steps": 40},
    },
    "recognize": {
        "Fast": {"labels": False, "top_k": 3},
        "Standard": {},
        "High quality": {"top_k": 10},
    },
}


def preset(task: str, name: str) -> dict[str, Any]:
    """The fields a preset governs (any preset of the task changes them), with its values."""
    spec = get_task(task)
    changes = _CHANGES.get(task, {}).get(name)
    if changes is None:
        from genserve.errors import InvalidInput

        raise InvalidInput(
            "is not a preset", argument="preset", value=name, fix=f"use one of: {', '.join(PRESET_NAMES)}"
        )
    governed = {key for change in _CHANGES[task].values() for key in change}
    defaults = spec.params_model().model_dump()
    full = spec.params_model.model_validate({**defaults, **changes}).model_dump()
    return {key: full[key] for key in spec.params_model.model_fields if key in governed}
