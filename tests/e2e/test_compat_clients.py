"""Client scripts written against the original routes, unchanged, against a real server:
curl multipart to /generate and /api/v1/recognize piped into jq, and a Python requests
talking-head client. They reach the real backends (camera, portrait, rapidocr)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from live_server import LiveServer
from PIL import Image, ImageDraw, ImageFont

from genserve.media.audio import load_audio
from genserve.media.video import probe_video


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("compat")).start()
    yield live
    live.stop()


def _sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True, timeout=300
    )


def test_document_000_curl_generate_then_jq(server: LiveServer, sample_image: Path) -> None:
    # as in a Jenkins stage calling the original route (smaller numbers so it runs fast on a CPU)
    out = _sh(
        f"""curl -s -X POST {server.url}/generate \\
          -F "image=@{sample_image}" \\
          -F "prompt=A futuristic tech product glowing in the dark, camera zooming in slowly" \\
          -F "resolution=256p" \\
          -F "num_frames=4" \\
          -F "fps=12" \\
          -F "steps=80" \\
          -F "guidance_scale=10.0" | jq -e -r 'select(.status == "success") | .output_path'"""
    )
    assert out.returncode == 0, out.stdout + out.stderr
    url = out.stdout.strip()
    assert url.startswith(f"{server.url}/v1/jobs/") and url.endswith("/video.mp4")
    video = requests.get(url, timeout=30)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    # the parameters come back as the original API returned them
    body = requests.post(
        f"{server.url}/generate",
        files={"image": sample_image.open("rb")},
        data={"prompt": "zoom", "resolution": "256p", "num_frames": 2},
        timeout=60,
    ).json()
    assert body["status"] == "success" and body["parameters"]["num_frames"] == 2
    assert {"output_path", "parameters", "timestamp", "duration_sec"} <= set(body)


def test_document_000_error_shape(server: LiveServer, sample_image: Path) -> None:
    out = _sh(
        f'curl -s -X POST {server.url}/generate -F "image=@{sample_image}" -F "resolution=4k" | jq -c .'
    )
    body = __import__("json").loads(out.stdout)
    assert body["status"] == "error" and body["output_path"] is None and "resolution" in body["message"]


def _sonic_client(
    url: str, image_path: str, audio_path: str, duration: float, out: Path
) -> requests.Response:
    """The original talking-head client (the values, the field names, booleans as True)."""
    files = {"image": open(image_path, "rb"), "audio": open(audio_path, "rb")}  # noqa: SIM115
    data = {
        "duration": duration,
        "min_resolution": 256,  # NOTE: the original client uses 1024; 256 keeps the CPU test short
        "expand_ratio": 0.18,
        "inference_steps": 25,
        "dynamic_scale": 1.1,
        "motion_scale": 1.05,
        "lip_sync_align": True,
        "smooth_motion": True,
    }
    response = requests.post(url=f"{url}/generate", files=files, data=data, timeout=300)
    if response.status_code == 200:
        with open(out, "wb") as f:
            f.write(response.content)
    return response


def test_document_002_requests_talking_head_client(
    server: LiveServer, sample_image: Path, speech_wav: Path, tmp_path: Path
) -> None:
    audio_len = load_audio(speech_wav).duration
    out = tmp_path / "output_video.mp4"
    response = _sonic_client(server.url, str(sample_image), str(speech_wav), round(audio_len, 2), out)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "video/mp4"
    info = probe_video(out)
    assert info.has_audio and abs(info.duration - audio_len) < 0.5
    # a duration too far from the audio: a 4xx with a text reason, as the client expects
    bad = _sonic_client(server.url, str(sample_image), str(speech_wav), audio_len + 3, tmp_path / "no.mp4")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/plain")
    assert "duration" in bad.text and "RuntimeError" not in bad.text and not (tmp_path / "no.mp4").exists()


def test_document_003_recognize_smoke_test(server: LiveServer, tmp_path: Path) -> None:
    page = tmp_path / "sample.jpg"
    img = Image.new("RGB", (640, 200), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 48)
    ImageDraw.Draw(img).text((30, 60), "GENSERVE 2024", fill="black", font=font)
    img.save(page)
    # the original recognize smoke test, unchanged but for the URL
    script = f"""
      response=$(curl -s -X POST \\
        -F "image=@{page}" \\
        {server.url}/api/v1/recognize)
      if echo "$response" | jq -e '.text_blocks' >/dev/null; then
        echo "smoke test passed"
      else
        echo "smoke test failed"; exit 1
      fi
      echo "$response" | jq -r '.text_blocks[].text'
    """
    out = _sh(script)
    assert out.returncode == 0 and "smoke test passed" in out.stdout, out.stdout + out.stderr
    assert "GENSERVE" in out.stdout.replace(" ", "")
    body = requests.post(
        f"{server.url}/api/v1/recognize", files={"image": page.open("rb")}, timeout=60
    ).json()
    assert {"text_blocks", "objects", "layout"} <= set(body) and body["status"] == "success"
    refused = requests.post(f"{server.url}/api/v1/recognize", files={"image": ("x.jpg", b"nope")}, timeout=30)
    assert refused.status_code == 415 and refused.json()["status"] == "error"
