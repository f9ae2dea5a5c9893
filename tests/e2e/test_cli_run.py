"""`genserve run` as a user calls it: a real subprocess, real files, exit codes and stderr lines."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from genserve.media.video import probe_video

GENSERVE = [sys.executable, "-m", "genserve"]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GENSERVE, *args], capture_output=True, text=True, env=env, timeout=120)


def test_run_image_to_video_prints_result_json(
    sample_image: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    proc = run_cli(
        "run",
        "image-to-video",
        "--image",
        str(sample_image),
        "--prompt",
        "camera zooming in slowly",
        env=cli_env,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "succeeded" and result["backend"] == "camera"
    info = probe_video(result["outputs"][0]["path"])
    assert (info.num_frames, info.fps, info.short_side) == (16, 8.0, 512)
    assert Path(result["outputs"][0]["path"]).is_relative_to(tmp_path / "outputs")


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height (a decompression bomb's calling card)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize(
    ("case", "extra", "exit_code", "expected"),
    [
        ("text_as_png", [], 2, "image: not a recognised image"),
        ("empty", [], 2, "image: file is empty"),
        ("bomb", [], 2, "image: image has 900000000 pixels, over the limit of 40000000"),
        ("missing", [], 2, "image: file does not exist"),
        ("ok", ["--set", "resolution=999p"], 2, "resolution: input should be '256p'"),
        (
            "ok",
            ["--set", "num_frames=0"],
            2,
            "num_frames: input should be greater than or equal to 1; got '0'",
        ),
        ("ok", ["--backend", "sora"], 2, "backend: unknown backend for task 'image-to-video'; got 'sora'"),
        ("ok", ["--set", "frames"], 2, "--set: must look like key=value"),
    ],
)
def test_bad_input_exits_non_zero_with_one_teaching_line_and_no_output(
    case: str,
    extra: list[str],
    exit_code: int,
    expected: str,
    sample_image: Path,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    image = tmp_path / "input.png"
    if case == "text_as_png":
        image.write_text("this is not an image\n")
    elif case == "empty":
        image.touch()
    elif case == "bomb":
        _png_header_only(image, 30000, 30000)
    elif case == "ok":
        image = sample_image
    proc = run_cli("run", "image-to-video", "--image", str(image), *extra, env=cli_env)
    assert proc.returncode == exit_code
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert "Fix:" in lines[0] and "Traceback" not in proc.stderr
    outputs = tmp_path / "outputs"
    assert not outputs.exists() or not any(p for p in outputs.rglob("*") if p.is_file())


def test_backends_lists_availability_and_defaults(cli_env: dict[str, str]) -> None:
    proc = run_cli("backends", "--json", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    rows = {r["backend"]: r for r in json.loads(proc.stdout)}
    camera = rows["camera"]
    assert camera["available"] and camera["task"] == "image-to-video"
    assert camera["defaults"]["num_frames"] == 16 and camera["defaults"]["resolution"] == "512p"
    human = run_cli("backends", "--task", "image-to-video", env=cli_env)
    assert human.returncode == 0 and "camera" in human.stdout and "num_frames=16" in human.stdout


def test_doctor_reports_the_machine(cli_env: dict[str, str]) -> None:
    proc = run_cli("doctor", "--json", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["python"].startswith("3.")
    assert report["h264"] == "yes"
    assert "GiB free" in report["disk"]
    assert any(b["backend"] == "camera" and b["available"] for b in report["backends"])


def test_unknown_task_is_a_usage_error(cli_env: dict[str, str], sample_image: Path) -> None:
    proc = run_cli("run", "text-to-speech", "--image", str(sample_image), env=cli_env)
    assert proc.returncode == 2
    assert "task: unknown task; got 'text-to-speech'" in proc.stderr
