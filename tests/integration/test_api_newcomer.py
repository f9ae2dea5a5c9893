"""The REST API as a newcomer meets it: /docs and /redoc with no network, one vocabulary across the
routes (ids, typed params, ISO times), the seed routes' words documented, errors in HTTP's terms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from genserve.api import create_app
from genserve.api.docs import ASSETS, assets_dir
from genserve.config import Settings

SPEECH = Path(__file__).parents[1] / "assets" / "speech.wav"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def test_docs_and_redoc_load_their_files_from_the_server(client: TestClient) -> None:
    assert assets_dir() is not None, "fastapi-offline (server extra) is not installed"
    for page, wanted in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert f"/static-offline-docs/{wanted}" in html.text
        assert "cdn.jsdelivr.net" not in html.text and "fonts.googleapis.com" not in html.text
    for name in ASSETS:
        asset = client.get(f"/static-offline-docs/{name}")
        assert asset.status_code == 200 and len(asset.content) > 1000, name
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert "/docs" not in json.dumps(client.get("/openapi.json").json()["paths"])  # not an API route


def test_a_job_reads_like_its_result(client: TestClient, sample_image: Path) -> None:
    data = {"task": "image-to-video", "resolution": "256p", "num_frames": "3", "fps": "6"}
    files = {"image": ("photo.jpg", sample_image.read_bytes(), "image/jpeg")}
    job = client.post("/v1/jobs", data=data, files=files, headers={"Prefer": "wait=60"}).json()
    assert job["status"] == "succeeded"
    assert job["job_id"] == job["id"] == job["result"]["job_id"]
    assert job["params"] == {"resolution": "256p", "num_frames": 3, "fps": 6}  # numbers, not "3"
    events = [
        json.loads(line[6:])
        for line in client.get(f"/v1/jobs/{job['id']}/events").text.splitlines()
        if line.startswith("data: ")
    ]
    assert events and all(e["at"][:4].isdigit() and "T" in e["at"] for e in events)  # ISO 8601
    assert job["created_at"][:4] == events[0]["at"][:4]


def test_unknown_task_filter_is_named(client: TestClient) -> None:
    r = client.get("/v1/jobs", params={"task": "foo"})
    assert r.status_code == 422 and r.json()["argument"] == "task" and "recognize" in r.json()["fix"]


def test_a_missing_input_is_fixed_in_http_terms(client: TestClient) -> None:
    r = client.post("/v1/jobs", data={"task": "image-to-video"}, files={"x": ("a.txt", b"x", "text/plain")})
    if r.json().get("argument") == "image":
        assert "--image" not in r.text and "send the image file" in r.json()["fix"]
    r = client.post("/v1/image-to-video", data={"prompt": "x"})
    assert r.status_code == 422 and "--image" not in r.text, r.text


def test_generate_with_audio_answers_text_or_json_as_asked(client: TestClient, sample_image: Path) -> None:
    files = {
        "image": ("portrait.jpg", sample_image.read_bytes(), "image/jpeg"),
        "audio": ("speech.wav", SPEECH.read_bytes(), "audio/wav"),
    }
    bad = {"duration": "99"}  # far from the audio's length: refused before anything runs
    text = client.post("/generate", files=files, data=bad)
    assert text.status_code == 422 and text.headers["content-type"].startswith("text/plain")  # as read
    as_json = client.post("/generate", files=files, data=bad, headers={"Accept": "application/json"})
    assert as_json.status_code == 422 and as_json.headers["content-type"] == "application/json"
    body = as_json.json()
    assert body["status"] == "error" and body["output_path"] is None and "duration" in body["message"]


def test_the_seed_routes_words_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for route in ("/generate", "/api/v1/recognize"):
        described = json.dumps(paths[route]["post"])
        assert '\\"success\\"' in described and '\\"succeeded\\"' in described, route
