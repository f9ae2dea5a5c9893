from __future__ import annotations

import pytest

from genserve.errors import InvalidInput, NotFound
from genserve.jobs.request import validate_params
from genserve.tasks import TASKS, get_task
from genserve.tasks.image_to_video import output_size


def test_defaults_are_the_documented_ones() -> None:
    i2v = TASKS["image-to-video"].params_model()
    assert (i2v.resolution, i2v.num_frames, i2v.fps, i2v.steps, i2v.guidance_scale, i2v.motion) == (
        "512p",
        16,
        8,
        50,
        9.0,
        "auto",
    )
    th = TASKS["talking-head"].params_model()
    assert (th.min_resolution, th.expand_ratio, th.inference_steps, th.dynamic_scale, th.motion_scale) == (
        1024,
        0.18,
        25,
        1.1,
        1.05,
    )
    assert th.lip_sync_align and th.smooth_motion and th.fps == 25 and th.duration is None
    rec = TASKS["recognize"].params_model()
    assert (rec.top_k, rec.ocr, rec.labels) == (5, True, True)


@pytest.mark.parametrize(
    ("w", "h", "short", "expected"),
    [
        (640, 400, 512, (816, 512)),
        (400, 640, 256, (256, 408)),
        (512, 512, 384, (384, 384)),
        (1920, 1080, 768, (1368, 768)),
    ],
)
def test_output_size_keeps_aspect_on_multiples_of_8(
    w: int, h: int, short: int, expected: tuple[int, int]
) -> None:
    out_w, out_h = output_size(w, h, short)
    assert (out_w, out_h) == expected
    assert out_w % 8 == 0 and out_h % 8 == 0
    assert abs(out_w / out_h - w / h) < 0.02


@pytest.mark.parametrize(
    ("params", "argument", "fragment"),
    [
        ({"resolution": "999p"}, "resolution", "'256p', '384p', '512p', '768p' or '1024p'"),
        ({"num_frames": 0}, "num_frames", "greater than or equal to 1"),
        ({"fps": "fast"}, "fps", "valid integer"),
        ({"colour": "red"}, "colour", "not a parameter of image-to-video"),
    ],
)
def test_bad_params_name_argument_rule_and_value(
    params: dict[str, object], argument: str, fragment: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_params(TASKS["image-to-video"], params)
    message = str(info.value)
    assert message.startswith(f"{argument}: ")
    assert fragment in message
    assert "got " in message and "Fix: " in message
    assert "\n" not in message


def test_string_values_from_the_command_line_are_converted() -> None:
    params = validate_params(
        TASKS["image-to-video"], {"num_frames": "24", "guidance_scale": "7.5", "seed": "3"}
    )
    assert params.model_dump()["num_frames"] == 24
    assert params.model_dump()["guidance_scale"] == 7.5


def test_unknown_task_lists_the_known_ones() -> None:
    with pytest.raises(NotFound) as info:
        get_task("text-to-speech")
    assert "image-to-video, talking-head, recognize" in str(info.value)


def test_degrade_ladder_steps_resolution_then_frames() -> None:
    ladder = TASKS["image-to-video"].degrade_ladder
    params = {"resolution": "768p", "num_frames": 16}
    applied = ladder[0].apply(params)
    assert applied is not None
    params, text = applied
    assert params["resolution"] == "512p" and "768p -> 512p" in text
    frames = ladder[2].apply(params)
    assert frames is not None and frames[0]["num_frames"] == 8
    assert ladder[2].apply({"resolution": "256p", "num_frames": 8}) is None
    assert ladder[0].apply({"resolution": "256p", "num_frames": 8}) is None
