"""A task from a plugin module (GENSERVE_PLUGINS) gets its own web UI tab with no UI code: its input
box, its parameters, no preset picker (it declares none), and its result in the player of its
output kind (here an image); it runs through ``gradio_client`` and shows in the history."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageOps
from webui_server import webui_server

from genserve import plugins
from genserve.backends.registry import BACKENDS
from genserve.config import Settings
from genserve.tasks import TASKS, unregister_task
from genserve.webui.forms import form_specs, values_from_params

KEY = "plugin-test-key"
MODULE = "gs_webui_mirror_plugin"
PLUGIN = '''
"""A genserve task in one file: mirror an image, with one weight-free backend."""

from PIL import ImageOps
from pydantic import BaseModel, ConfigDict, Field

from genserve.backends.base import Backend, ImageOutput, Progress, RunOutput
from genserve.backends.registry import register
from genserve.tasks import Inputs, MediaInput, TaskSpec, register_task


class MirrorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vertical: bool = Field(False, title="Vertical", description="Flip top to bottom instead.")


register_task(
    TaskSpec(
        name="webui-mirror",
        title="Mirror",
        description="Mirror an image left to right (or top to bottom).",
        params_model=MirrorParams,
        inputs=(MediaInput("image", "image", description="The image to mirror"),),
        output="image",
        default_backends=("webui-pil-mirror",),
    )
)


@register
class PILMirror(Backend):
    name = "webui-pil-mirror"
    task = "webui-mirror"
    description = "Mirrors with Pillow; no weights."

    def run(self, inputs: Inputs, params: MirrorParams, progress: Progress) -> RunOutput:
        image = inputs.media["image"]
        flipped = ImageOps.flip(image) if params.vertical else ImageOps.mirror(image)
        progress(1, 1)
        return RunOutput(images=[ImageOutput(flipped)])
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("webui-plugin")
    (root / f"{MODULE}.py").write_text(PLUGIN, encoding="utf-8")
    sys.path.insert(0, str(root))
    settings = Settings(output_dir=root / "outputs", data_dir=root / "data", api_keys=KEY, plugins=MODULE)
    try:
        with webui_server(settings) as base:
            yield base
    finally:  # the other tests see genserve's own tasks only
        sys.path.remove(str(root))
        unregister_task("webui-mirror")
        BACKENDS.unregister("webui-pil-mirror")
        sys.modules.pop(MODULE, None)
        plugins._IMPORTED.discard(MODULE)


@pytest.fixture(scope="module")
def client(server: str) -> Client:
    return Client(f"{server}/ui/", headers={"Authorization": f"Bearer {KEY}"}, verbose=False)


def page_components(server: str) -> dict[str, dict[str, Any]]:
    config = httpx.get(f"{server}/ui/config", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert config.status_code == 200, config.text
    found = {}
    for comp in config.json()["components"]:
        props = comp.get("props", {})
        if props.get("elem_id"):
            found[props["elem_id"]] = {**props, "component": comp["type"]}
    return found


def test_the_plugin_task_has_a_tab_with_its_inputs_an_image_result_and_no_presets(
    server: str, client: Client
) -> None:
    page = page_components(server)
    assert page["tab-webui-mirror"]["label"] == "Mirror"
    assert page["webui-mirror-image"]["component"] == "image"  # the input box
    assert page["webui-mirror-result-image"]["component"] == "image"  # the result, by spec.output
    assert page["webui-mirror-param-vertical"]["component"] == "checkbox"
    assert page["webui-mirror-backend"]["value"] == "webui-pil-mirror"
    # it declares no presets: no picker (genserve's own tasks keep theirs)
    assert "webui-mirror-preset" not in page and "image-to-video-preset" in page
    assert "webui-mirror-video" not in page and "webui-mirror-text" not in page
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert len(named["/run_webui_mirror"]["parameters"]) == 1 + 1 + 1  # image, backend, vertical


def test_the_plugin_task_runs_through_the_client_and_returns_its_image(
    client: Client, tmp_path: Path
) -> None:
    source = Image.new("RGB", (64, 32), (220, 30, 30))
    source.paste((30, 30, 220), (0, 0, 16, 32))  # blue on the left
    path = tmp_path / "halves.png"
    source.save(path)
    values = values_from_params(form_specs(TASKS["webui-mirror"].params_model), {})
    status, notes, job_id, image = client.predict(
        handle_file(str(path)), "webui-pil-mirror", *values, api_name="/run_webui_mirror"
    )
    assert status.startswith("Done") and job_id, notes
    with Image.open(image) as made:
        got = made.convert("RGB")
    assert got.size == (64, 32)
    assert got.getpixel((60, 16)) == (30, 30, 220)  # the blue is on the right now
    assert got.tobytes() == ImageOps.mirror(source).tobytes()
    # the history shows it in an image player (not a video player), with its file to download
    summary, _shown, video, files, text, boxes, shown_image, audio, result = client.predict(
        job_id, api_name="/job_detail"
    )
    assert "Mirror" in summary and "webui-pil-mirror" in summary
    assert video is None and text == "" and not boxes and audio is None
    assert shown_image is not None and result is None
    with Image.open(shown_image) as again:
        assert again.convert("RGB").getpixel((60, 16)) == (30, 30, 220)
    assert [Path(f).name for f in files] == ["image.png"]
    _, rows = client.predict(api_name="/history")
    assert rows["data"][0][0] == job_id and rows["data"][0][1] == "webui-mirror"
