"""README's "Adding a task", as written: its module saved to a file and named in GENSERVE_PLUGINS,
with no other file changed, gives a task that `genserve backends` lists, `genserve run` runs,
`POST /v1/<task>` serves, OpenAPI documents, the web UI shows as a tab that runs it, and a batch
manifest runs."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from gradio_client import Client as GradioClient
from gradio_client import handle_file
from live_server import GENSERVE, ROOT, LiveServer
from PIL import Image

README = ROOT / "README.md"


def section(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def python_block(body: str) -> str:
    match = re.search(r"```python\n(.*?)```", body, re.S)
    assert match, "the section has no python block"
    return match.group(1)


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    """The README's module saved as mirror_task.py, named in GENSERVE_PLUGINS, on PYTHONPATH."""
    body = section("Adding a task")
    assert "GENSERVE_PLUGINS=mirror_task" in body and "mirror_task.py" in body
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "mirror_task.py").write_text(python_block(body), encoding="utf-8")
    path = [str(tmp_path / "plugin"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {
        "GENSERVE_PLUGINS": "mirror_task",
        "PYTHONPATH": os.pathsep.join(path),
        "GENSERVE_OUTPUT_DIR": str(tmp_path / "outputs"),
        "GENSERVE_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    """An image that is not its own mirror: a gradient with a red block at the left."""
    pixels = np.zeros((48, 64, 3), dtype=np.uint8)
    pixels[..., 1] = np.arange(64, dtype=np.uint8)[None, :] * 4
    pixels[10:30, 2:12] = (255, 0, 0)
    path = tmp_path / "x.png"
    Image.fromarray(pixels).save(path)
    return path


def mirrored(picture: Path) -> np.ndarray:
    return np.asarray(Image.open(picture).convert("RGB"))[:, ::-1]


def genserve(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GENSERVE), *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )


def test_backends_lists_the_task_and_run_mirrors(plugin_env: dict[str, str], picture: Path) -> None:
    listed = genserve("backends", "--json", env=plugin_env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    row = next(r for r in rows if r.get("task") == "mirror")
    assert row["backend"] == "pil-mirror" and row["available"] and row["default"]
    assert not [r for r in rows if r.get("broken")]

    ran = genserve("run", "mirror", "--image", str(picture), "-q", env=plugin_env)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "succeeded" and result["backend"] == "pil-mirror"
    (output,) = result["outputs"]
    assert output["media_type"] == "image/png"
    assert Image.open(output["path"]).format == "PNG"
    assert np.array_equal(np.asarray(Image.open(output["path"]).convert("RGB")), mirrored(picture))

    vertical = genserve(
        "run", "mirror", "--image", str(picture), "--set", "vertical=true", "-q", env=plugin_env
    )
    assert vertical.returncode == 0, vertical.stderr
    flipped = json.loads(vertical.stdout)["outputs"][0]["path"]
    expected = np.asarray(Image.open(picture).convert("RGB"))[::-1]
    assert np.array_equal(np.asarray(Image.open(flipped).convert("RGB")), expected)


@pytest.fixture
def server(tmp_path: Path, plugin_env: dict[str, str]) -> Iterator[LiveServer]:
    """`genserve serve --mode webui`: the REST API, OpenAPI and the web UI on one port."""
    live = LiveServer(tmp_path, mode="webui", **plugin_env)
    live.start(timeout=120)
    try:
        yield live
    finally:
        live.stop()


def _components(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in config.get("components", []) if isinstance(c, dict)]


def test_rest_route_openapi_and_web_ui_tab(server: LiveServer, picture: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        with picture.open("rb") as f:
            answer = client.post("/v1/mirror", files={"image": ("x.png", f, "image/png")})
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["task"] == "mirror" and result["status"] == "succeeded"
        (output,) = result["outputs"]
        download = client.get(output["url"])
        assert download.status_code == 200, (output, download.text)
        assert download.headers["content-type"] == "image/png"
        got = np.asarray(Image.open(io.BytesIO(download.content)).convert("RGB"))
        assert np.array_equal(got, mirrored(picture))

        schema = client.get("/openapi.json").json()
        route = schema["paths"]["/v1/mirror"]["post"]
        form = route["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert form["properties"]["image"] == {
            "type": "string",
            "format": "binary",
            "description": "The image to mirror",
        }
        assert form["required"] == ["image"] and form["properties"]["vertical"]["type"] == "boolean"

        described = client.get("/v1/backends").json()["tasks"]["mirror"]
        assert described["output"] == "image" and described["inputs"][0]["kind"] == "image"

        # the web UI: a tab titled with the task's title, the image input and an image result
        config = client.get("/ui/config").json()
        page = {
            c["props"]["elem_id"]: {**c["props"], "component": c["type"]}
            for c in _components(config)
            if c.get("props", {}).get("elem_id")
        }
        assert page["tab-mirror"]["label"] == "Mirror"
        assert page["mirror-image"]["component"] == "image"
        assert page["mirror-result-image"]["component"] == "image"
        assert page["mirror-param-vertical"]["component"] == "checkbox"

    ui = GradioClient(f"{server.url}/ui/", verbose=False)
    status, notes, job_id, image = ui.predict(
        handle_file(str(picture)), "pil-mirror", False, api_name="/run_mirror"
    )
    assert status.startswith("Done") and job_id, notes
    assert np.array_equal(np.asarray(Image.open(image).convert("RGB")), mirrored(picture))


def test_a_batch_of_the_task_shows_its_images(
    plugin_env: dict[str, str], picture: Path, tmp_path: Path
) -> None:
    """A manifest row names the task and its input as a CSV column; the contact sheet shows the output."""
    manifest = tmp_path / "rows.csv"
    manifest.write_text(f"id,task,image,vertical\nflat,mirror,{picture},false\nflip,mirror,{picture},true\n")
    done = subprocess.run(
        [str(GENSERVE), "batch", str(manifest), "--local", "--progress", "none"],
        capture_output=True,
        text=True,
        env={**os.environ, **plugin_env},
        cwd=tmp_path,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    out = Path(json.loads(done.stdout)["out"])
    index = (out / "index.html").read_text(encoding="utf-8")
    for row in ("flat", "flip"):
        assert f'<img src="_thumbs/{row}.jpg" alt="image.png"' in index
        assert (out / "_thumbs" / f"{row}.jpg").is_file()
    got = np.asarray(Image.open(out / "flat" / "image.png").convert("RGB"))
    assert np.array_equal(got, mirrored(picture))
