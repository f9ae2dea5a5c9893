"""A task from a GENSERVE_PLUGINS module, with a video and a text input, through every door: its
CLI options, its REST route and form, OpenAPI and /v1/backends — derived from its spec alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from genserve.api import create_app
from genserve.backends.registry import unregister
from genserve.config import Settings
from genserve.media.video import encode_video
from genserve.tasks import unregister_task

SRC = Path(__file__).resolve().parents[2] / "src"

PLUGIN = """
from pydantic import BaseModel, ConfigDict

from genserve.backends.base import Backend, Progress, RunOutput
from genserve.backends.registry import register
from genserve.tasks import Inputs, MediaInput, TaskSpec, register_task


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shout: bool = False


register_task(
    TaskSpec(
        name="clip-notes",
        title="Clip notes",
        description="Count a clip's frames and repeat its notes.",
        params_model=Params,
        inputs=(
            MediaInput("clip", "video", description="A short clip"),
            MediaInput("notes", "text", required=False, description="Notes on the clip"),
        ),
        output="json",
    )
)


@register
class ClipNotes(Backend):
    name = "clip-counter"
    task = "clip-notes"

    def run(self, inputs: Inputs, params: Params, progress: Progress) -> RunOutput:
        clip, notes = inputs.media["clip"], inputs.media.get("notes") or ""
        progress(1, 1)
        text = notes.upper() if params.shout else notes
        return RunOutput(data={"frames": clip.num_frames, "size": [clip.width, clip.height], "notes": text})
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The plugin as a module of its own name (a module is imported once per process)."""
    module = f"clip_notes_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module
    unregister_task("clip-notes")
    unregister("clip-counter")
    sys.modules.pop(module, None)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    frames = [np.full((64, 96, 3), i * 20, dtype=np.uint8) for i in range(6)]
    encode_video(frames, tmp_path / "clip.mp4", fps=6)
    return tmp_path / "clip.mp4"


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("a red door opens", encoding="utf-8")
    return path


def test_rest_route_form_openapi_and_backends(
    plugin: str, settings: Settings, clip: Path, notes: Path
) -> None:
    app = create_app(settings.model_copy(update={"plugins": plugin}))
    with TestClient(app) as client:
        with clip.open("rb") as c, notes.open("rb") as n:
            files = {"clip": ("clip.mp4", c, "video/mp4"), "notes": ("notes.txt", n, "text/plain")}
            answer = client.post("/v1/clip-notes", files=files, data={"shout": "true"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["frames"], body["size"], body["notes"]) == (6, [96, 64], "A RED DOOR OPENS")

        # the same task through /v1/jobs, its optional text input left out
        with clip.open("rb") as c:
            queued = client.post(
                "/v1/jobs",
                files={"clip": ("clip.mp4", c, "video/mp4")},
                data={"task": "clip-notes"},
                headers={"Prefer": "wait=30"},
            )
        assert queued.status_code == 200, queued.text
        assert queued.json()["result"]["notes"] == ""

        # an image given as the clip is refused, naming the input
        refused = client.post("/v1/clip-notes", files={"clip": ("x.mp4", b"not a video", "video/mp4")})
        assert refused.status_code == 415 and refused.json()["argument"] == "clip"

        schema = client.get("/openapi.json").json()
        form = schema["paths"]["/v1/clip-notes"]["post"]["requestBody"]["content"]["multipart/form-data"]
        props = form["schema"]["properties"]
        assert props["clip"]["format"] == "binary" and props["notes"]["format"] == "binary"
        assert form["schema"]["required"] == ["clip"] and props["shout"]["type"] == "boolean"
        jobs_form = schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
        assert any(v["properties"]["task"]["enum"] == ["clip-notes"] for v in jobs_form["schema"]["oneOf"])

        described = client.get("/v1/backends").json()
        assert described["tasks"]["clip-notes"]["output"] == "json"
        assert described["tasks"]["clip-notes"]["inputs"] == [
            {
                "name": "clip",
                "kind": "video",
                "required": True,
                "multiple": False,
                "description": "A short clip",
            },
            {
                "name": "notes",
                "kind": "text",
                "required": False,
                "multiple": False,
                "description": "Notes on the clip",
            },
        ]
        assert any(r["backend"] == "clip-counter" for r in described["backends"])

        missing = client.post("/v1/jobs", data={"shout": "true"})
        assert missing.status_code == 422 and "clip-notes" in missing.json()["fix"]


def _cli(*args: str, plugin: str, where: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GENSERVE_PLUGINS": plugin,
        "PYTHONPATH": os.pathsep.join([str(where), str(SRC)]),
        "GENSERVE_OUTPUT_DIR": str(where / "outputs"),
        "GENSERVE_DATA_DIR": str(where / "data"),
    }
    command = [sys.executable, "-m", "genserve", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_cli_options_come_from_the_plugin(plugin: str, tmp_path: Path, clip: Path, notes: Path) -> None:
    helped = _cli("run", "--help", plugin=plugin, where=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "--clip" in helped.stdout and "--notes" in helped.stdout and "clip-notes" in helped.stdout

    ran = _cli(
        "run", "clip-notes", "--clip", str(clip), "--notes", str(notes), "-q", plugin=plugin, where=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert (result["frames"], result["notes"]) == (6, "a red door opens")

    # --input NAME=FILE reaches the same inputs
    by_name = _cli("run", "clip-notes", "--input", f"clip={clip}", "-q", plugin=plugin, where=tmp_path)
    assert by_name.returncode == 0, by_name.stderr

    # an input the task does not take: exit 2, the option named
    wrong = _cli(
        "run", "clip-notes", "--clip", str(clip), "--image", str(notes), "-q", plugin=plugin, where=tmp_path
    )
    assert wrong.returncode == 2
    assert "--image: is not an input of clip-notes" in wrong.stderr and "clip, notes" in wrong.stderr
