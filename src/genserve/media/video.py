"""Video encoding (H.264 yuv420p MP4 that browsers play, optional AAC audio) and probing, via PyAV."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from genserve.errors import MediaError


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: float
    num_frames: int
    duration: float
    codec: str
    pix_fmt: str | None
    has_audio: bool
    audio_codec: str | None = None
    audio_duration: float | None = None

    @property
    def short_side(self) -> int:
        return min(self.width, self.height)


@dataclass
class EncodeStats:
    frames: int
    seconds: float  # time spent inside the encoder (not in producing frames)


def encode_video(
    frames: Iterable[np.ndarray],
    path: str | Path,
    *,
    fps: int | float,
    audio_path: str | Path | None = None,
    crf: int = 20,
    preset: str = "veryfast",
) -> EncodeStats:
    """Encode RGB uint8 frames (H, W, 3) to an H.264 MP4; mux ``audio_path`` as AAC when given.

    Frames may come from a generator: they are encoded as they arrive, so memory stays flat.
    The audio is trimmed to the video's length.
    """
    path = Path(path)
    spent = 0.0
    count = 0
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w", format="mp4") as out:
        stream = None
        astream = None
        for frame in frames:
            t0 = time.perf_counter()
            if stream is None:
                height, width = frame.shape[:2]
                if width % 2 or height % 2:
                    raise MediaError(
                        f"frame size {width}x{height} must be even for H.264 yuv420p",
                        argument="resolution",
                        fix="use a multiple of 8",
                    )
                stream = out.add_stream("libx264", rate=rate)
                stream.width, stream.height = width, height
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": preset, **_X264_THREADS}
                if audio_path is not None:
                    astream = _add_audio_stream(out)
            vf = to_yuv420p(frame)
            vf.pts = count
            for packet in stream.encode(vf):
                out.mux(packet)
            count += 1
            spent += time.perf_counter() - t0
        if stream is None:
            raise MediaError("no frames to encode", argument="num_frames", fix="ask for at least one frame")
        t0 = time.perf_counter()
        for packet in stream.encode():
            out.mux(packet)
        if audio_path is not None and astream is not None:
            _mux_audio(out, astream, Path(audio_path), max_seconds=count / float(fps))
        spent += time.perf_counter() - t0
    return EncodeStats(frames=count, seconds=spent)


# NOTE: identical frames should give identical videos (seeds, gate baselines). Measured here: with
# swscale's RGB->YUV conversion (state left by an earlier decode) and with x264's frame threads, the
# same frames gave visibly different videos. So the conversion is OpenCV's (BT.601, limited range,
# which players assume for unlabelled H.264), row padding repeats the edge, and x264 uses two sliced
# threads with one lookahead thread. Bytes are identical for most sizes; for some widths x264 still
# varies a few grey levels between runs, so tests compare decoded frames with a small tolerance.
_X264_THREADS = {"threads": "2", "x264-params": "sliced-threads=1:lookahead-threads=1"}
_SWS: dict[str, Any] = {"interpolation": "BILINEAR", "threads": 1}


def to_yuv420p(frame: np.ndarray) -> av.VideoFrame:
    """An RGB frame as a yuv420p VideoFrame whose row padding repeats the edge pixel.

    The encoder reads the padding of rows whose width is not a multiple of 16; left uninitialised,
    it made the same frames encode differently from run to run.
    """
    h, w = frame.shape[:2]
    flat = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420).reshape(-1)
    quarter = (h // 2) * (w // 2)
    planes = (
        flat[: h * w].reshape(h, w),
        flat[h * w : h * w + quarter].reshape(h // 2, w // 2),
        flat[h * w + quarter :].reshape(h // 2, w // 2),
    )
    out = av.VideoFrame(w, h, "yuv420p")
    for plane, data in zip(out.planes, planes, strict=True):
        pad = plane.line_size - data.shape[1]
        padded = np.pad(data, ((0, 0), (0, pad)), mode="edge") if pad else data
        plane.update(np.ascontiguousarray(padded).tobytes())
    return out


def to_rgb24(frame: av.VideoFrame) -> np.ndarray:
    return frame.reformat(
        format="rgb24", dst_colorspace="ITU601", dst_color_range="JPEG", **_SWS
    ).to_ndarray()


def _add_audio_stream(out: av.container.OutputContainer) -> av.audio.stream.AudioStream:
    astream = out.add_stream("aac", rate=44100)
    astream.layout = "stereo"
    return astream


def _mux_audio(
    out: av.container.OutputContainer,
    astream: av.audio.stream.AudioStream,
    audio_path: Path,
    max_seconds: float,
) -> None:
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=44100)
    limit = round(max_seconds * 44100)
    written = 0
    with av.open(str(audio_path)) as src:
        for frame in src.decode(src.streams.audio[0]):
            for res in resampler.resample(frame):
                if written >= limit:
                    break
                if written + res.samples > limit:
                    keep = limit - written
                    arr: Any = res.to_ndarray()[:, :keep]
                    res = av.AudioFrame.from_ndarray(
                        np.ascontiguousarray(arr), format="fltp", layout="stereo"
                    )
                    res.sample_rate = 44100
                res.pts = written
                written += res.samples
                for packet in astream.encode(res):
                    out.mux(packet)
    for packet in astream.encode(None):
        out.mux(packet)


def probe_video(path: str | Path) -> VideoInfo:
    """Container facts of a video file; frame count is counted by demuxing (exact)."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError("file has no video stream", argument="video", value=path.name)
            vs = container.streams.video[0]
            fps = float(vs.average_rate or vs.guessed_rate or 0)
            width, height = vs.codec_context.width, vs.codec_context.height
            codec = vs.codec_context.name
            pix_fmt = vs.codec_context.pix_fmt
            audio = container.streams.audio[0] if container.streams.audio else None
            audio_codec = audio.codec_context.name if audio else None
            audio_duration = (
                float(audio.duration * audio.time_base)
                if audio and audio.duration and audio.time_base
                else None
            )
            count = sum(1 for p in container.demux(vs) if p.size)
    except av.FFmpegError as exc:
        raise MediaError(f"cannot be read as video ({exc})", argument="video", value=path.name) from None
    duration = count / fps if fps else 0.0
    return VideoInfo(
        width=width,
        height=height,
        fps=fps,
        num_frames=count,
        duration=duration,
        codec=codec,
        pix_fmt=pix_fmt,
        has_audio=audio is not None,
        audio_codec=audio_codec,
        audio_duration=audio_duration,
    )


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decoded RGB frames of a video file."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield to_rgb24(frame)


def read_frames(path: str | Path) -> np.ndarray:
    """All decoded RGB frames as an array (T, H, W, 3)."""
    return np.stack(list(iter_frames(path)))
