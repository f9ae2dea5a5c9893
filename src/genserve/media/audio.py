"""Audio decoding (wav/mp3/m4a/flac/ogg through PyAV): mono float32 samples, duration, resampling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from genserve.errors import MediaError, MediaTooLarge, NotFound


@dataclass
class AudioClip:
    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    path: Path

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    def rms_db(self) -> float:
        rms = float(np.sqrt(np.mean(np.square(self.samples)))) if len(self.samples) else 0.0
        return 20.0 * np.log10(max(rms, 1e-10))


def load_audio(
    path: str | Path,
    *,
    argument: str = "audio",
    sample_rate: int = 16000,
    max_seconds: float = 300.0,
) -> AudioClip:
    """Decode an audio file to mono float32 at ``sample_rate``."""
    path = Path(path)
    if not path.is_file():
        raise NotFound("file does not exist", argument=argument, value=str(path), fix="check the path")
    if path.stat().st_size == 0:
        raise MediaError(
            "file is empty", argument=argument, value=path.name, fix="pass a non-empty audio file"
        )
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(
                    "file has no audio stream",
                    argument=argument,
                    value=path.name,
                    fix="pass a WAV, MP3, M4A, FLAC or OGG file",
                )
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            total = 0
            limit = int(max_seconds * sample_rate) + sample_rate
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    total += len(arr)
                if total > limit:
                    raise MediaTooLarge(
                        f"audio is longer than the limit of {max_seconds:g} s",
                        argument=argument,
                        value=path.name,
                        fix="trim the audio (or raise GENSERVE_MAX_AUDIO_SECONDS)",
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(
            f"cannot be decoded as audio ({type(exc).__name__})",
            argument=argument,
            value=path.name,
            fix="pass a WAV, MP3, M4A, FLAC or OGG file",
        ) from None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if len(samples) == 0:
        raise MediaError(
            "audio has no samples", argument=argument, value=path.name, fix="pass a longer recording"
        )
    return AudioClip(samples=samples, sample_rate=sample_rate, path=path)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write mono float samples as 16-bit PCM WAV."""
    import wave

    path = Path(path)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())
    return path
