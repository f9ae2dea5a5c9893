"""portrait: weight-free talking head. A portrait and speech become a video whose lips follow the speech.

Runs anywhere (demos, CI on CPU): the face is found with 68-point landmarks when the
``landmarks`` extra is installed (jaw and lower lip drop, the inside of the mouth is drawn between
the inner lips; dlib's model, non-commercial training data) or else with OpenCV's Haar cascades (a
row warp around a guessed lip line); the speech becomes a mouth-opening curve and a lip shape
(rounded .. wide, closed for m/b/p), and each frame is a local warp of the still portrait (jaw and
lips, blinks, subtle head motion). The result's ``face_detector`` says which path ran. The original
audio is muxed into the MP4 by the runner.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from genserve.backends import portrait_landmarks
from genserve.backends.base import Backend, Progress, RunOutput, VideoOutput
from genserve.backends.mouth_curve import LIP_LEAD_S, mouth_curve, mouth_shape, shift_earlier
from genserve.backends.portrait_face import crop_box, detect_face, output_size
from genserve.backends.portrait_motion import HeadPath, blink_curve, head_path
from genserve.backends.portrait_warp import PortraitRig
from genserve.tasks.talking_head import TalkingHeadInputs, TalkingHeadParams


class PortraitBackend(Backend):
    name = "portrait"
    task = "talking-head"
    description = (
        "Weight-free portrait animator: lips follow the speech, blinks, subtle head motion; runs anywhere."
    )
    version = "2.0"
    weight_free = True
    devices = ("cpu",)
    default_model = "portrait-warp"
    unsupported_params = ("inference_steps",)
    thread_safe = True

    def run(self, inputs: TalkingHeadInputs, params: TalkingHeadParams, progress: Progress) -> RunOutput:
        assert inputs.image is not None and inputs.audio is not None
        # 1. find the face and crop around it
        src = np.asarray(inputs.image)
        face = detect_face(src)
        img_h, img_w = src.shape[:2]
        x0, y0, x1, y1 = crop_box(face, img_w, img_h, params.expand_ratio)
        out_w, out_h = output_size(x1 - x0, y1 - y0, params.min_resolution, min(img_w, img_h))
        crop = src[y0:y1, x0:x1]
        grow = out_w > crop.shape[1]
        base = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_CUBIC if grow else cv2.INTER_AREA)
        layout = face.mapped(out_w / (x1 - x0), out_h / (y1 - y0), x0, y0)
        # 2. time series: frames = duration * fps, so the video lasts as long as the audio
        duration = float(params.duration or inputs.audio.duration)
        n_frames = max(1, round(duration * params.fps))
        opening = mouth_curve(
            inputs.audio.samples,
            inputs.audio.sample_rate,
            params.fps,
            n_frames,
            dynamic_scale=params.dynamic_scale,
            lip_sync_align=params.lip_sync_align,
            smooth_motion=params.smooth_motion,
        )
        width, closed = mouth_shape(
            inputs.audio.samples,
            inputs.audio.sample_rate,
            params.fps,
            n_frames,
            smooth_motion=params.smooth_motion,
        )
        if params.lip_sync_align:
            lead = round(LIP_LEAD_S * params.fps)
            width, closed = shift_earlier(width, lead), shift_earlier(closed, lead)
        opening = (opening * (1.0 - 0.8 * closed)).astype(np.float32)  # lips pressed for m/b/p
        rng = np.random.default_rng(params.seed)
        blinks = blink_curve(n_frames, params.fps, rng)
        head = head_path(
            n_frames, params.fps, rng, layout.w, params.motion_scale, opening, params.smooth_motion
        )
        # 3. frames are rendered lazily while the runner encodes them
        frames = render_frames(PortraitRig(base, layout), opening, blinks, head, progress, width)
        return RunOutput(
            videos=[VideoOutput(frames=frames, fps=params.fps, audio_path=inputs.audio.path)],
            parameters={
                "width": out_w,
                "height": out_h,
                "frames": n_frames,
                "crop_box": [x0, y0, x1, y1],
                "face_box": [round(v) for v in (layout.x, layout.y, layout.w, layout.h)],
                "mouth_box": list(layout.mouth_box()),
                "face_detector": layout.detector,
                "face_model": portrait_landmarks.LICENCE_NOTE
                if layout.landmarks is not None
                else "OpenCV Haar cascades (install genserve[landmarks] for landmark-driven lips and jaw)",
            },
        )


def render_frames(
    rig: PortraitRig,
    opening: np.ndarray,
    blinks: np.ndarray,
    head: HeadPath,
    progress: Progress | None = None,
    width: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    n = len(opening)
    for i in range(n):
        yield rig.render(
            float(opening[i]),
            float(blinks[i]),
            float(head.tx[i]),
            float(head.ty[i]),
            float(head.roll[i]),
            0.0 if width is None else float(width[i] * min(1.0, opening[i])),
        )
        if progress is not None:
            progress(i + 1, n)
