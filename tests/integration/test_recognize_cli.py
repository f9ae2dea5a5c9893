"""`genserve run recognize --image page.png` as a user runs it: a subprocess printing the JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
GENSERVE = [sys.executable, "-m", "genserve"]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GENSERVE, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.skipif(not FONT.exists(), reason="needs fonts-wqy-microhei (scripts/setup.sh)")
def test_run_recognize_prints_the_json(cli_env: dict[str, str], tmp_path: Path) -> None:
    page = Image.new("RGB", (800, 200), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(FONT), 40)
    draw.text((30, 30), "发票号码 12345678", font=font, fill="black")
    draw.text((30, 110), "Total 36.80", font=font, fill="black")
    path = tmp_path / "page.png"
    page.save(path)
    proc = run_cli("run", "recognize", "--image", str(path), "--set", "top_k=3", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # stdout is the JSON and nothing else
    assert (
        result["status"] == "succeeded" and result["task"] == "recognize" and result["backend"] == "rapidocr"
    )
    assert result["image_path"] == "page.png"
    texts = [b["text"].replace(" ", "") for b in result["text_blocks"]]
    assert texts == ["发票号码12345678", "Total36.80"]
    assert len(result["objects"]) == 3 and result["parameters"]["top_k"] == 3
    assert {"width", "height", "lines", "paragraphs", "orientation"} <= set(result["layout"])
    assert set(result) >= {"status", "image_path", "timestamp", "text_blocks", "objects", "layout"}


def test_run_recognize_rejects_a_file_that_is_not_an_image(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not an image at all")
    proc = run_cli("run", "recognize", "--image", str(path), env=cli_env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "image: not a recognised image" in proc.stderr and "Fix:" in proc.stderr
    assert json.loads(proc.stdout)["error"] == "unsupported_media"


def test_run_recognize_rejects_a_bad_parameter(cli_env: dict[str, str], sample_image: Path) -> None:
    proc = run_cli("run", "recognize", "--image", str(sample_image), "--set", "top_k=0", env=cli_env)
    assert proc.returncode == 2
    assert "top_k" in proc.stderr and "Traceback" not in proc.stderr


def test_run_recognize_refuses_a_batch_over_the_limit_before_decoding(
    cli_env: dict[str, str], sample_image: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")  # never decoded: the count is checked first
    images = ["--image", str(sample_image), "--image", str(sample_image), "--image", str(broken)]
    proc = run_cli("run", "recognize", *images, env={**cli_env, "GENSERVE_MAX_BATCH_FILES": "2"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "image: takes at most 2 files in one job" in proc.stderr
    assert "GENSERVE_MAX_BATCH_FILES" in proc.stderr
    assert json.loads(proc.stdout)["error"] == "invalid_input"
