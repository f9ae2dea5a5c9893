"""/api/v1/recognize on a real `genserve serve` (uvicorn on 127.0.0.1), called with curl and jq as
the original smoke test does: Chinese text read, client file names kept, batches, bad input."""

from __future__ import annotations

import json
import subprocess
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
pytestmark = pytest.mark.skipif(not FONT.exists(), reason="needs fonts-wqy-microhei (scripts/setup.sh)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("recognize-api")).start()
    yield live
    live.stop()


def render(path: Path, lines: list[str]) -> Path:
    img = Image.new("RGB", (900, 90 * len(lines) + 40), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 40)
    for i, line in enumerate(lines):
        draw.text((30, 30 + 90 * i), line, font=font, fill="black")
    img.save(path)
    return path


def sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True, timeout=300
    )


def squash(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace(" ", "")


def test_curl_jq_smoke_test_reads_chinese(server: LiveServer, tmp_path: Path) -> None:
    page = render(tmp_path / "page.png", ["万物识别集成到生产环境", "CI/CD 流水线部署 2026"])
    out = sh(
        f"curl -s -F image=@{page} {server.url}/api/v1/recognize | tee {tmp_path}/r.json | jq -e .text_blocks"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    body = json.loads((tmp_path / "r.json").read_text())
    assert body["status"] == "success" and body["backend"] == "rapidocr"
    assert [squash(line["text"]) for line in body["layout"]["lines"]] == [
        "万物识别集成到生产环境",
        "CI/CD流水线部署2026",
    ]
    # the uploaded file's name, never where the server spooled it
    assert body["image_path"] == "page.png"
    assert str(tmp_path) not in json.dumps(body) and "/data/" not in body["image_path"]


def test_batch_and_parameters_as_form_fields(server: LiveServer, tmp_path: Path) -> None:
    first = render(tmp_path / "first.png", ["第一张图片"])
    second = render(tmp_path / "second.png", ["Second image"])
    out = sh(
        f"curl -s -F image=@{first} -F image=@{second} -F top_k=3 -F labels=false "
        f"{server.url}/api/v1/recognize"
        " | jq -e -c '[.items[] | {image_path, text: [.text_blocks[].text] | join(\"\")}]'"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    items = json.loads(out.stdout)
    assert [i["image_path"] for i in items] == ["first.png", "second.png"]
    assert [squash(i["text"]) for i in items] == ["第一张图片", "Secondimage"]


def test_bad_parameter_and_bad_file_are_4xx_with_a_reason(server: LiveServer, tmp_path: Path) -> None:
    page = render(tmp_path / "page.png", ["x"])
    bad = sh(
        f"curl -s -o {tmp_path}/bad.json -w '%{{http_code}}' -F image=@{page} -F top_k=0 "
        f"{server.url}/api/v1/recognize"
    )
    assert bad.stdout == "422", bad.stdout + bad.stderr
    body = json.loads((tmp_path / "bad.json").read_text())
    assert body["status"] == "error" and "top_k" in body["message"] and "Traceback" not in body["message"]
    fake = tmp_path / "scan.png"
    fake.write_bytes(b"%PDF-1.7 not an image")
    refused = sh(f"curl -s -o /dev/null -w '%{{http_code}}' -F image=@{fake} {server.url}/api/v1/recognize")
    assert refused.stdout == "415"
    # the server is still up and answering after the refusals
    again = sh(f"curl -s -F image=@{page} {server.url}/api/v1/recognize | jq -e .text_blocks")
    assert again.returncode == 0


def test_batch_limits_are_4xx_with_a_reason(server: LiveServer, tmp_path: Path) -> None:
    import httpx

    data = render(tmp_path / "one.png", ["1"]).read_bytes()

    def post(count: int) -> httpx.Response:
        files = [("image", (f"p{i}.png", data, "image/png")) for i in range(count)]
        url = f"{server.url}/api/v1/recognize"
        return httpx.post(url, files=files, data={"labels": "false"}, timeout=120)

    over_job = post(33)  # over GENSERVE_MAX_BATCH_FILES (32)
    assert over_job.status_code == 422
    assert over_job.json()["status"] == "error"
    assert "image: takes at most 32 files in one job" in over_job.json()["message"]
    over_form = post(65)  # over what one request may carry at all
    assert over_form.status_code == 422
    assert "form: is refused: Too many files" in over_form.json()["message"]
    assert post(2).status_code == 200  # and the server still answers
