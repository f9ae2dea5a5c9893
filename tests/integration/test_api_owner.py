"""With API keys configured, each key lists its own jobs (the web UI's history does the same)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from genserve.api import create_app
from genserve.config import Settings

CAMERA = {"task": "image-to-video", "resolution": "256p", "num_frames": "2", "fps": "6"}


def test_each_key_lists_only_its_own_jobs(settings: Settings, sample_image: Path) -> None:
    keyed = settings.model_copy(update={"api_keys": "k1,k2"})
    image = {"image": ("photo.jpg", sample_image.read_bytes(), "image/jpeg")}
    k1, k2 = {"Authorization": "Bearer k1"}, {"Authorization": "Bearer k2"}
    with TestClient(create_app(keyed)) as c:
        mine = c.post("/v1/jobs", data=CAMERA, files=image, headers={**k1, "Prefer": "wait=30"})
        theirs = c.post("/v1/jobs", data=CAMERA, files=image, headers={**k2, "Prefer": "wait=30"})
        assert mine.status_code == 200 and theirs.status_code == 200
        listed_k1 = [j["id"] for j in c.get("/v1/jobs", headers=k1).json()["jobs"]]
        listed_k2 = [j["id"] for j in c.get("/v1/jobs", headers=k2).json()["jobs"]]
    assert listed_k1 == [mine.json()["id"]]
    assert listed_k2 == [theirs.json()["id"]]


def test_without_keys_every_job_is_listed(settings: Settings, sample_image: Path) -> None:
    image = {"image": ("photo.jpg", sample_image.read_bytes(), "image/jpeg")}
    with TestClient(create_app(settings)) as c:
        ids = {
            c.post("/v1/jobs", data=CAMERA, files=image, headers={"Prefer": "wait=30"}).json()["id"]
            for _ in range(2)
        }
        listed = {j["id"] for j in c.get("/v1/jobs").json()["jobs"]}
    assert listed == ids
