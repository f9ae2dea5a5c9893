"""talking-head: a portrait and speech become a talking video with the audio muxed in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from genserve.errors import InvalidInput
from genserve.media.audio import AudioClip
from genserve.tasks.base import DegradeStep, Inputs, MediaInput, TaskSpec

# NOTE: a requested duration more than 0.5 s away from the audio's length
# gives a black tail or a cut-off; steps below 20 jitter; dynamic_scale above 1.2 exaggerates the mouth.
DURATION_TOLERANCE_S = 0.5
MIN_SMOOTH_STEPS = 20
MAX_NATURAL_DYNAMIC_SCALE = 1.2
# Audio whose loudest sample stays below this is silence (a muted track, a wrong channel): no speech
# to animate. Speech with pauses passes: only its loudest moment counts.
SILENCE_PEAK_DBFS = -60.0


class TalkingHeadParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    duration: float | None = Field(
        None,
        title="Duration (s)",
        gt=0,
        le=600,
        description="Video length in seconds. Empty = the audio's length; if given, within 0.5 s of it.",
    )
    min_resolution: int = Field(
        1024,
        title="Resolution (short side)",
        ge=256,
        le=2048,
        description="Short side of the video in pixels (capped at the portrait's own).",
    )
    expand_ratio: float = Field(
        0.18,
        title="Room around the face",
        ge=0.0,
        le=1.0,
        description="How much room to leave around the face when cropping (0.18 = 18 %).",
    )
    inference_steps: int = Field(
        25, title="Steps", ge=1, le=200, description="Generation steps; below 20 the motion may jitter."
    )
    dynamic_scale: float = Field(
        1.1,
        title="Mouth movement",
        ge=0.0,
        le=3.0,
        description="Mouth movement strength; above 1.2 the mouth looks exaggerated.",
    )
    motion_scale: float = Field(
        1.05, title="Head motion", ge=0.0, le=3.0, description="Head motion strength (1.0 = natural)."
    )
    lip_sync_align: bool = Field(
        True,
        title="Align lips to the sound",
        description="Compensate the audio-visual lag so lips match the sound.",
    )
    smooth_motion: bool = Field(
        True, title="Smooth motion", description="Smooth head and mouth motion over time."
    )
    fps: int = Field(25, title="FPS", ge=10, le=60, description="Frames per second of the video.")
    seed: int | None = Field(
        None, title="Seed", ge=0, le=2**32 - 1, description="Random seed; the same seed gives the same video."
    )


@dataclass
class TalkingHeadInputs(Inputs):
    image: Image.Image | None = None
    audio: AudioClip | None = None


def check(inputs: TalkingHeadInputs, params: TalkingHeadParams) -> tuple[TalkingHeadParams, list[str]]:
    """The duration rule, and warnings for the settings known to degrade the video (see above)."""
    assert inputs.audio is not None
    audio_len = inputs.audio.duration
    peak = float(abs(inputs.audio.samples).max())
    if peak < 10 ** (SILENCE_PEAK_DBFS / 20):
        peak_db = "-inf" if peak == 0 else f"{20 * math.log10(peak):.0f}"
        raise InvalidInput(
            f"is silent (its loudest sample is {peak_db} dBFS, below {SILENCE_PEAK_DBFS:g} dBFS): "
            "there is no speech to animate",
            argument="audio",
            value=(inputs.names.get("audio") or [inputs.audio.path.name])[0],
            fix="pass a recording with speech (check the microphone, the channel and the volume)",
        )
    if params.duration is None:
        params = params.model_copy(update={"duration": round(audio_len, 3)})
    elif abs(params.duration - audio_len) > DURATION_TOLERANCE_S:
        raise InvalidInput(
            f"must be within {DURATION_TOLERANCE_S} s of the audio's length ({audio_len:.2f} s), "
            f"but is {params.duration:.2f} s ({abs(params.duration - audio_len):.2f} s away)",
            argument="duration",
            value=params.duration,
            fix=f"omit duration or pass duration={audio_len:.2f}",
        )
    warnings: list[str] = []
    if params.inference_steps < MIN_SMOOTH_STEPS:
        warnings.append(
            f"inference_steps={params.inference_steps} is below {MIN_SMOOTH_STEPS}: motion may jitter"
        )
    if params.dynamic_scale > MAX_NATURAL_DYNAMIC_SCALE:
        warnings.append(
            f"dynamic_scale={params.dynamic_scale} is above {MAX_NATURAL_DYNAMIC_SCALE}: "
            "the mouth may look exaggerated"
        )
    return params, warnings


def _lower_resolution(params: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    current = params["min_resolution"]
    new = {1024: 768, 768: 512}.get(current) if current <= 1024 else 1024
    if new is None or new >= current:
        return None
    return {**params, "min_resolution": new}, f"min_resolution {current} -> {new}"


SPEC = TaskSpec(
    name="talking-head",
    title="Talking head",
    description="Animate a portrait so it speaks the given audio.",
    params_model=TalkingHeadParams,
    inputs_type=TalkingHeadInputs,
    inputs=(
        MediaInput("image", "image", description="A frontal portrait"),
        MediaInput("audio", "audio", description="Speech (WAV, MP3, M4A, FLAC, OGG)"),
    ),
    default_backends=("portrait",),
    output="video",
    # changes against the defaults (1024 px, 25 steps); "Fast" stays at 20 steps or more: fewer
    # steps make the face jitter (the threshold the task warns at)
    presets={
        "Fast": {"min_resolution": 512, "inference_steps": 20},
        "Standard": {},
        "High quality": {"min_resolution": 1024, "inference_steps": 40},
    },
    degrade_ladder=(
        DegradeStep("lower_resolution", _lower_resolution),
        DegradeStep("lower_resolution", _lower_resolution),
        DegradeStep("memory_saving", lambda p: None, memory_saving=True),
    ),
    check=check,
)
