from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from genserve.errors import MediaError, MediaTooLarge, NotFound
from genserve.media.audio import load_audio, write_wav
from genserve.media.image import open_image
from genserve.media.video import encode_video, probe_video


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 10, 20))  # blue on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    shown = open_image(path)
    assert shown.size == (20, 40)
    top = np.asarray(shown)[2, 10]
    assert top[2] > 200 and top[0] < 60  # the blue edge is now at the top


def test_rgba_is_composited_on_white_and_grayscale_becomes_rgb(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    assert np.asarray(open_image(tmp_path / "clear.png")).min() == 255
    Image.new("L", (16, 16), 80).save(tmp_path / "gray.png")
    gray = open_image(tmp_path / "gray.png")
    assert gray.mode == "RGB" and np.asarray(gray)[0, 0].tolist() == [80, 80, 80]


def test_type_is_sniffed_from_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "photo.txt"
    Image.new("RGB", (16, 16)).save(path, format="PNG")
    assert open_image(path).size == (16, 16)


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path) -> None:
    Image.new("RGB", (300, 200)).save(tmp_path / "big.png")
    with pytest.raises(MediaTooLarge) as info:
        open_image(tmp_path / "big.png", max_pixels=50_000)
    assert "300x200 = 60000 pixels, over the limit of 50000" in str(info.value)


def test_truncated_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(MediaError) as info:
        open_image(path)
    assert "corrupt or truncated" in str(info.value)


def _tone(seconds: float, rate: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize(
    ("ext", "codec"), [("flac", "flac"), ("ogg", "libopus"), ("m4a", "aac"), ("mp3", "libmp3lame")]
)
def test_audio_formats_decode_to_mono_16k_with_duration(tmp_path: Path, ext: str, codec: str) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec} encoder to make the fixture")
    wav = write_wav(tmp_path / "tone.wav", _tone(1.5), 22050)
    out_path = tmp_path / f"tone.{ext}"
    with av.open(str(wav)) as src, av.open(str(out_path), "w") as dst:
        stream = dst.add_stream(codec, rate={"libmp3lame": 44100, "libopus": 48000}.get(codec, 22050))
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=stream.rate)
        for frame in src.decode(audio=0):
            for res in resampler.resample(frame):
                for packet in stream.encode(res):
                    dst.mux(packet)
        for res in resampler.resample(None):
            for packet in stream.encode(res):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    clip = load_audio(out_path)
    assert clip.sample_rate == 16000 and clip.samples.ndim == 1
    assert abs(clip.duration - 1.5) < 0.1
    assert -14 < clip.rms_db() < -10  # a 0.3-amplitude sine: -13.5 dBFS


def test_undecodable_and_missing_audio_are_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "speech.wav"
    junk.write_bytes(b"RIFF....WAVEjunkjunkjunk" * 10)
    with pytest.raises(MediaError) as info:
        load_audio(junk)
    assert str(info.value).startswith("audio: ")
    with pytest.raises(NotFound):
        load_audio(tmp_path / "absent.wav")


def test_audio_over_the_length_limit_is_refused(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "long.wav", _tone(3.0), 22050)
    with pytest.raises(MediaTooLarge) as info:
        load_audio(wav, max_seconds=1.0)
    assert "longer than the limit of 1 s" in str(info.value)


def test_video_with_audio_is_trimmed_to_the_video(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "tone.wav", _tone(3.0), 22050)
    frames = (np.full((64, 96, 3), i * 8, np.uint8) for i in range(25))
    encode_video(frames, tmp_path / "v.mp4", fps=25, audio_path=wav)
    info = probe_video(tmp_path / "v.mp4")
    assert info.has_audio and info.audio_codec == "aac"
    assert info.num_frames == 25 and abs(info.duration - 1.0) < 1e-6
    assert info.audio_duration is not None and abs(info.audio_duration - 1.0) < 0.05
