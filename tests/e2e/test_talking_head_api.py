"""The original talking-head client, unchanged in spirit: ``requests.post(.../generate, files=, data=)``
against a real ``genserve serve`` (uvicorn) on 127.0.0.1; MP4 bytes come back."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import skimage.data
from PIL import Image

from genserve.media.audio import load_audio
from genserve.media.video import probe_video


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    env = {
        "GENSERVE_OUTPUT_DIR": str(root / "outputs"),
        "GENSERVE_DATA_DIR": str(root / "data"),
        "PATH": str(Path(sys.executable).parent),
        "OMP_NUM_THREADS": "1",
    }
    genserve = str(Path(sys.executable).parent / "genserve")
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [genserve, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "server.log").read_text()[-2000:])
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("img") / "portrait.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    return path


def generate_sonic_video(
    url: str,
    image_path: Path,
    audio_path: Path,
    duration: float,
    min_resolution: int = 1024,
    expand_ratio: float = 0.18,
    inference_steps: int = 25,
    dynamic_scale: float = 1.1,
) -> requests.Response:
    """The original client: the files and the form fields, booleans as Python writes them."""
    with image_path.open("rb") as image, audio_path.open("rb") as audio:
        files = {"image": image, "audio": audio}
        data = {
            "duration": duration,
            "min_resolution": min_resolution,
            "expand_ratio": expand_ratio,
            "inference_steps": inference_steps,
            "dynamic_scale": dynamic_scale,
            "motion_scale": 1.05,
            "lip_sync_align": True,  # requests sends "True"
            "smooth_motion": False,  # and "False"
        }
        return requests.post(f"{url}/generate", files=files, data=data, timeout=300)


def test_document_002_client_gets_an_mp4(
    server: str, portrait: Path, speech_wav: Path, tmp_path: Path
) -> None:
    length = load_audio(speech_wav).duration
    response = generate_sonic_video(
        server, portrait, speech_wav, duration=round(length, 2), min_resolution=256
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "video/mp4"
    out = tmp_path / "output_video.mp4"
    out.write_bytes(response.content)
    info = probe_video(out)
    assert info.has_audio and info.audio_codec == "aac"
    assert (info.width, info.height) == (256, 256)
    assert abs(info.duration - length) <= 1 / 25 + 0.01
    job = requests.get(f"{server}/v1/jobs/{response.headers['X-Job-Id']}", timeout=10).json()
    params = job["result"]["parameters"]
    assert params["lip_sync_align"] is True and params["smooth_motion"] is False
    assert params["motion_scale"] == 1.05


def test_duration_too_far_from_the_audio_is_a_4xx(server: str, portrait: Path, speech_wav: Path) -> None:
    length = load_audio(speech_wav).duration
    response = generate_sonic_video(
        server, portrait, speech_wav, duration=round(length + 0.6, 2), min_resolution=256
    )
    assert 400 <= response.status_code < 500
    assert "duration" in response.text and f"({length:.2f} s)" in response.text
    assert "Traceback" not in response.text


def test_no_face_is_a_4xx(server: str, landscape_png: Path, speech_wav: Path) -> None:
    response = generate_sonic_video(server, landscape_png, speech_wav, duration=5.6, min_resolution=256)
    assert response.status_code == 422
    assert "no face found: use a frontal portrait" in response.text
