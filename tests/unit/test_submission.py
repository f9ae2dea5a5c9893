"""Uploads as the doors hand them over: a small one held in memory (no file until the artifact store
keeps it), a larger one spooled to a temp file; either way the same fingerprint and the same bytes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from genserve.config import Settings
from genserve.jobs.artifacts import LocalArtifactStore
from genserve.submission import IN_MEMORY_MAX, Submission, spool_upload


def test_a_small_upload_is_held_in_memory_and_a_large_one_spooled(tmp_path: Path) -> None:
    small = spool_upload(io.BytesIO(b"x" * IN_MEMORY_MAX), "a.jpg", tmp_path)
    assert small.path is None and small.data == b"x" * IN_MEMORY_MAX and list(tmp_path.iterdir()) == []
    body = os.urandom(IN_MEMORY_MAX + 1)
    large = spool_upload(io.BytesIO(body), "b.jpg", tmp_path)
    assert large.data is None and large.path is not None and large.path.parent == tmp_path
    assert large.path.read_bytes() == body
    large.discard()
    assert list(tmp_path.iterdir()) == []


def test_fingerprint_reads_the_bytes_wherever_they_are(tmp_path: Path) -> None:
    body = b"same bytes"
    held = Submission(task="t", files={"image": [spool_upload(io.BytesIO(body), "a.jpg", tmp_path)]})
    on_disk = tmp_path / "a.jpg"
    on_disk.write_bytes(body)
    spooled = Submission(task="t", files={"image": [spool_upload(on_disk.open("rb"), "a.jpg", tmp_path)]})
    spooled.files["image"][0].data, spooled.files["image"][0].path = None, on_disk  # as a door with a file
    assert held.fingerprint() == spooled.fingerprint()
    other = Submission(task="t", files={"image": [spool_upload(io.BytesIO(b"other"), "a.jpg", tmp_path)]})
    assert other.fingerprint() != held.fingerprint()


@pytest.mark.parametrize("in_memory", [True, False])
def test_the_local_store_keeps_an_upload_exactly(tmp_path: Path, in_memory: bool) -> None:
    store = LocalArtifactStore(Settings(data_dir=tmp_path / "data", output_dir=tmp_path / "out"))
    body = b"\x89PNG\r\n" + os.urandom(1000)
    spooled = tmp_path / "spooled.png"
    spooled.write_bytes(body)
    ref = store.put_input("job-1", "image", 0, body if in_memory else spooled, ".PNG")
    (path,) = store.input_paths("job-1", {"image": [ref]})["image"]
    assert path.read_bytes() == body and path.suffix == ".png"
    assert spooled.exists() is in_memory  # a file is moved, bytes are written
