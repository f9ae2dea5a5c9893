"""Container metrics: what the file says about itself (duration, fps, size, codec, audio) and
whether its duration matches what was asked for."""

from __future__ import annotations

from genserve.gates.context import MeasureContext
from genserve.gates.registry import MetricSkipped, metric


@metric(
    "duration",
    unit="s",
    direction="info",
    version="1",
    description="Video duration: frame count / frame rate",
    outputs=("video",),
)
def duration(ctx: MeasureContext) -> float:
    return ctx.info().duration


@metric("fps", unit="fps", direction="info", version="1", description="Frame rate", outputs=("video",))
def fps(ctx: MeasureContext) -> float:
    return ctx.info().fps


@metric(
    "frame_count",
    unit="frames",
    direction="info",
    version="1",
    description="Frames in the video stream (counted by demuxing)",
    outputs=("video",),
)
def frame_count(ctx: MeasureContext) -> float:
    return float(ctx.info().num_frames)


@metric(
    "short_side",
    unit="px",
    direction="info",
    version="1",
    description="Short side of the video frame (width x height in the detail)",
    outputs=("video",),
)
def short_side(ctx: MeasureContext) -> float:
    info = ctx.info()
    ctx.note("short_side", width=info.width, height=info.height)
    return float(info.short_side)


@metric(
    "codec_ok",
    unit="bool",
    direction="higher",
    version="1",
    description="1 when the video is H.264 yuv420p (plays in every browser), else 0",
    outputs=("video",),
)
def codec_ok(ctx: MeasureContext) -> float:
    info = ctx.info()
    ctx.note("codec_ok", codec=info.codec, pix_fmt=info.pix_fmt)
    return 1.0 if info.codec == "h264" and info.pix_fmt == "yuv420p" else 0.0


@metric(
    "has_audio",
    unit="bool",
    direction="higher",
    version="1",
    description="1 when the video carries an audio track, else 0",
    outputs=("video",),
)
def has_audio(ctx: MeasureContext) -> float:
    return 1.0 if ctx.info().has_audio else 0.0


def expected_duration(ctx: MeasureContext) -> float:
    """What the job asked for: the input audio's length (talking-head), else num_frames / fps, else
    the input audio's length (a plugin's task driven by sound)."""
    params = ctx.params()
    if ctx.task == "talking-head":
        if params.get("duration"):
            return float(params["duration"])
        return ctx.input_audio().duration
    if params.get("num_frames") and params.get("fps"):
        return float(params["num_frames"]) / float(params["fps"])
    if "audio" in ctx.inputs:  # another task that makes a video from a sound: as long as the sound
        return ctx.input_audio().duration
    raise MetricSkipped("no expected duration: the result has no num_frames/fps or audio")


@metric(
    "duration_error",
    unit="s",
    direction="lower",
    version="1",
    description="|video duration - requested duration| (talking-head: the input audio's length)",
    outputs=("video",),
)
def duration_error(ctx: MeasureContext) -> float:
    want = expected_duration(ctx)
    got = ctx.info().duration
    ctx.note("duration_error", expected_s=round(want, 4), video_s=round(got, 4))
    return abs(got - want)


@metric(
    "av_duration_error",
    unit="s",
    direction="lower",
    version="1",
    description="|video stream duration - audio stream duration| inside the file",
    tasks=("talking-head",),
)
def av_duration_error(ctx: MeasureContext) -> float:
    info = ctx.info()
    if not info.has_audio:
        raise MetricSkipped("the video has no audio track")
    audio_s = info.audio_duration if info.audio_duration is not None else ctx.video_audio().duration
    ctx.note("av_duration_error", video_s=round(info.duration, 4), audio_s=round(audio_s, 4))
    return abs(info.duration - audio_s)
