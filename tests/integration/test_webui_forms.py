"""The web UI's forms come from the task Params models: a parameter added to a model appears in the
form with its help text and default, with no UI code. Also presets, suggestions, value conversion,
and the access control in front of the UI (login cookie; nothing submitted without a key)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import gradio as gr
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from genserve import tasks
from genserve.api import create_app
from genserve.api.access import SESSION_COOKIE
from genserve.backends.camera_motion import motion_from_prompt
from genserve.caller import SYSTEM, Caller
from genserve.config import Settings
from genserve.errors import InvalidInput
from genserve.jobs.request import validate_params
from genserve.service import Service
from genserve.tasks.image_to_video import ImageToVideoParams
from genserve.tasks.image_to_video_suggest import suggest
from genserve.tasks.recognize import RecognizeParams
from genserve.webui import render, running
from genserve.webui.forms import form_specs, make_widget, params_from_values, values_from_params
from genserve.webui.history import short_params
from genserve.webui.i18n import Translator
from genserve.webui.pages import Pages
from genserve.webui.presets import preset

SHARPEN_HELP = "How much to sharpen each frame before encoding (0 = off)."


class ExtendedParams(ImageToVideoParams):
    """Image-to-video with parameters no UI code knows about."""

    model_config = ConfigDict(extra="forbid")

    sharpen: float = Field(0.25, ge=0.0, le=1.0, description=SHARPEN_HELP)
    grain: Literal["none", "film", "heavy"] = Field("none", description="Film grain added to the video.")
    loop_back: bool = Field(False, description="Play forwards then backwards, so the clip loops.")
    max_seconds: int | None = Field(None, ge=1, le=3600, description="Stop after this many seconds.")


def components(blocks: gr.Blocks) -> dict[str, dict[str, Any]]:
    """The page's components by elem_id, as gradio sends them to the browser."""
    found = {}
    for comp in blocks.config["components"]:
        props = comp.get("props", {})
        if props.get("elem_id"):
            found[props["elem_id"]] = {**props, "component": comp["type"]}
    return found


@pytest.fixture
def extended_task(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    spec = dataclasses.replace(tasks.TASKS["image-to-video"], params_model=ExtendedParams)
    monkeypatch.setitem(tasks.TASKS, "image-to-video", spec)
    yield


def test_field_added_to_params_model_appears_in_page_with_help_and_default(
    settings: Settings, extended_task: None
) -> None:
    blocks = Pages(Service(settings, run_jobs=False)).build()
    page = components(blocks)
    sharpen = page["image-to-video-param-sharpen"]
    assert sharpen["component"] == "slider"
    assert (sharpen["minimum"], sharpen["maximum"], sharpen["value"]) == (0.0, 1.0, 0.25)
    assert sharpen["info"] == SHARPEN_HELP
    assert sharpen["label"] == "Sharpen"
    grain = page["image-to-video-param-grain"]
    assert grain["component"] == "dropdown" and grain["value"] == "none"
    assert [c[1] for c in grain["choices"]] == ["none", "film", "heavy"]
    assert page["image-to-video-param-loop_back"]["component"] == "checkbox"
    assert page["image-to-video-param-loop_back"]["info"].startswith("Play forwards")
    # an optional number stays empty ("not set"), never a silent 0
    assert page["image-to-video-param-max_seconds"]["component"] == "textbox"
    assert page["image-to-video-param-max_seconds"]["value"] == ""
    # the other tasks are untouched
    assert "talking-head-param-sharpen" not in page


def test_every_param_of_every_task_has_a_widget_with_its_description(settings: Settings) -> None:
    page = components(Pages(Service(settings, run_jobs=False)).build())
    for name, spec in tasks.TASKS.items():
        for field, info in spec.params_model.model_fields.items():
            widget = page[f"{name}-param-{field}"]
            assert widget["info"] == info.description, (name, field)
        assert page[f"{name}-backend"]["component"] == "dropdown"
    # bounds become slider ranges; wide ranges a number box
    assert page["talking-head-param-dynamic_scale"]["maximum"] == 3.0
    assert page["image-to-video-param-num_frames"]["component"] == "slider"
    assert page["talking-head-param-duration"]["component"] == "textbox"  # optional float, up to 600 s


def test_labels_come_from_each_fields_title_and_one_button_word(settings: Settings) -> None:
    page = components(Pages(Service(settings, run_jobs=False)).build())
    for name, spec in tasks.TASKS.items():
        for field, info in spec.params_model.model_fields.items():
            assert page[f"{name}-param-{field}"]["label"] == (
                info.title or field.replace("_", " ").capitalize()
            )
        assert page[f"{name}-submit"]["value"] == "Run"
    assert page["image-to-video-param-fps"]["label"] == "FPS"
    assert page["image-to-video-param-num_frames"]["label"] == "Frames"
    assert page["recognize-param-ocr"]["label"] == "OCR"
    assert page["recognize-param-top_k"]["label"] == "Top labels"
    # the backends that cannot run here are named briefly, without their install commands
    info = page["talking-head-backend"]["info"]
    assert "sonic" in info and "git clone" not in info and len(info) < 160, info


def test_refusal_shows_under_the_button_and_a_new_input_clears_it(settings: Settings) -> None:
    blocks = Pages(Service(settings, run_jobs=False)).build()
    by_id = {c["id"]: c for c in blocks.config["components"]}

    def column_of(elem_id: str) -> int:
        def find(node: dict[str, Any], column: int | None) -> int | None:
            kind = by_id.get(node["id"], {}).get("type")
            column = node["id"] if kind == "column" else column
            if by_id.get(node["id"], {}).get("props", {}).get("elem_id") == elem_id:
                return column
            for child in node.get("children", []):
                if (found := find(child, column)) is not None:
                    return found
            return None

        found = find(blocks.config["layout"], None)
        assert found is not None, elem_id
        return found

    for task in tasks.TASKS:
        assert column_of(f"{task}-notes") == column_of(f"{task}-submit") == column_of(f"{task}-status")
        assert column_of(f"{task}-job") != column_of(f"{task}-submit")
    # a refusal is cleared by the next change of an input; anything else stays
    assert Pages._clear_refusal("refused") == ["", "", "", ""]
    assert all(v is not None and not isinstance(v, str) for v in Pages._clear_refusal("succeeded"))


def test_status_line_is_words_and_the_bar_carries_the_steps() -> None:
    running = {
        "id": "j1",
        "status": "running",
        "progress": {"step": 3, "total": 10},
        "started_at": None,
    }
    assert render.status_line(running) == "Running: step 3 of 10"
    assert render.status_line({"id": "j1", "status": "succeeded", "result": {"duration_sec": 1.25}}) == (
        "Done in 1.2 s"
    )
    assert render.status_line({"id": "-", "status": "failed"}) == "Failed"
    bar = render.progress_html(running)
    assert 'value="3" max="10"' in bar and 'data-status="running"' in bar


def test_recognize_text_first_numbered_from_zero_like_the_json(tmp_path: Path) -> None:
    result = {
        "image_path": "sign.png",
        "text_blocks": [
            {"text": "OPEN", "bbox": [20, 60, 200, 120]},
            {"text": "营业中", "bbox": [220, 60, 400, 120]},
        ],
        "objects": [{"label": "street sign", "score": 0.81}],
    }
    assert render.recognized_text(result).splitlines() == [
        "sign.png",
        "0  OPEN",
        "1  营业中",
        "Labels: street sign (81%)",
    ]
    # the numbers are tags sized to the image, readable when a gallery shows it ~300 px wide
    image = tmp_path / "sign.png"
    Image.new("RGB", (640, 200), "white").save(image)
    drawn = render.draw_text_boxes(image, result["text_blocks"])
    red = [(x, y) for x in range(0, 640) for y in range(0, 60) if drawn.getpixel((x, y)) == (255, 40, 40)]
    tag_height = max(y for _, y in red) - min(y for _, y in red) + 1
    assert tag_height >= 640 / 300 * 10, tag_height  # >= 10 px on screen at 300 px wide
    assert render.label_size(640, 200) >= 24 and render.label_size(3000, 2000) >= 100
    # tag 0 sits over the first block, tag 1 over the second
    assert min(x for x, _ in red) < 40 and any(200 <= x < 260 for x, _ in red)


def test_history_parameters_column_is_short() -> None:
    params = {"prompt": "the camera zooming in slowly on the subject " * 5, "fps": 24, "seed": 7}
    cell = short_params(params)
    assert cell.startswith("prompt=the camera zooming in") and "…" in cell and "fps=24" in cell
    assert len(cell) <= 90
    assert short_params({}) == "defaults"


def test_widget_values_round_trip_through_the_params_model() -> None:
    specs = form_specs(ExtendedParams)
    defaults = values_from_params(specs, {})
    # untouched form: nothing but defaults, so nothing is sent
    assert params_from_values(specs, defaults) == {}
    values = values_from_params(specs, {"sharpen": 0.5, "grain": "film", "max_seconds": 30, "seed": 7})
    sent = params_from_values(specs, values)
    assert sent == {"sharpen": 0.5, "grain": "film", "max_seconds": "30", "seed": "7"}
    validated = ExtendedParams.model_validate(sent)
    assert (validated.max_seconds, validated.seed) == (30, 7)
    # a slider's float for an int field becomes an int; an empty seed means "random"
    by_name = {s.name: i for i, s in enumerate(specs)}
    values[by_name["num_frames"]] = 24.0
    values[by_name["seed"]] = "  "
    sent = params_from_values(specs, values)
    assert sent["num_frames"] == 24 and isinstance(sent["num_frames"], int) and "seed" not in sent


def test_bad_widget_value_is_a_teaching_error() -> None:
    specs = form_specs(ImageToVideoParams)
    values = values_from_params(specs, {"seed": "twelve"})
    with pytest.raises(InvalidInput) as err:
        validate_params(tasks.TASKS["image-to-video"], params_from_values(specs, values))
    assert "seed" in err.value.message and "twelve" in err.value.message and "Fix" in err.value.message


def test_make_widget_builds_gradio_components() -> None:
    with gr.Blocks():
        widgets = {s.name: make_widget(s, "x-") for s in form_specs(RecognizeParams)}
    assert isinstance(widgets["top_k"], gr.Slider) and widgets["top_k"].info.startswith("How many labels")
    assert isinstance(widgets["ocr"], gr.Checkbox) and widgets["ocr"].value is True
    assert widgets["min_score"].step == 0.01


def test_presets_are_valid_and_standard_is_the_defaults() -> None:
    for name in ("image-to-video", "talking-head", "recognize"):
        spec = tasks.TASKS[name]
        assert list(spec.presets) == ["Fast", "Standard", "High quality"], name
        defaults = spec.params_model().model_dump()
        for choice in spec.presets:
            values = preset(name, choice)
            assert values, (name, choice)
            spec.params_model.model_validate({**defaults, **values})
        assert all(defaults[k] == v for k, v in preset(name, "Standard").items())
        assert preset(name, "Fast") != preset(name, "High quality")
    fast = preset("image-to-video", "Fast")
    assert "prompt" not in fast and "seed" not in fast  # a preset keeps what the user wrote
    assert preset("talking-head", "Fast")["inference_steps"] >= 20  # fewer steps make the face jitter
    with pytest.raises(InvalidInput):
        preset("recognize", "Turbo")


def test_suggestions_follow_the_image_shape(landscape_png: Path, sample_image: Path, tmp_path: Path) -> None:
    portrait = suggest(600, 900)
    assert portrait is not None and portrait.title == "gentle zoom-in"
    assert ExtendedParams.model_validate(portrait.params).prompt.startswith("the camera zooming in slowly")
    wide = suggest(1920, 800)
    assert wide is not None and wide.title == "slow pan" and "pan" in wide.params["prompt"]
    # the suggested prompts drive the camera backend as promised: gentle (half speed) motions
    assert motion_from_prompt(portrait.params["prompt"]) == ("zoom_in", 0.5)
    assert motion_from_prompt(wide.params["prompt"]) == ("pan_right", 0.5)
    assert suggest(1000, 900) is None
    # the task's spec carries it; the page asks the spec (a task without one suggests nothing)
    suggest_for_file = tasks.TASKS["image-to-video"].suggest
    assert suggest_for_file is not None and tasks.TASKS["recognize"].suggest is None
    # the bundled square portrait (512x512, a face): the zoom-in the README promises for portraits
    square = suggest_for_file(sample_image)
    assert square is not None and square.title == "gentle zoom-in"
    assert "512x512" in render.suggestion_markdown(square)
    plain = tmp_path / "square.png"
    Image.new("RGB", (512, 512), (90, 140, 200)).save(plain)
    assert suggest_for_file(plain) is None  # square, no face: nothing to suggest
    found = suggest_for_file(landscape_png)  # 640x400 = 1.6:1
    assert found is not None and found.title == "slow pan"
    assert "640x400" in render.suggestion_markdown(found)
    # in Chinese: the task's English keys translated by the page's catalogue
    assert "缓慢推近" in render.suggestion_markdown(square, Translator("zh-CN"))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    assert suggest_for_file(junk) is None


# --- access control in front of the UI -------------------------------------------------------


@pytest.fixture
def keyed_client(settings: Settings) -> Iterator[tuple[TestClient, Service]]:
    keyed = settings.model_copy(update={"api_keys": "alpha-key,beta-key"})
    service = Service(keyed)
    with TestClient(create_app(keyed, webui=True, service=service)) as client:
        yield client, service


def test_without_a_key_the_ui_sends_to_login_and_nothing_is_submitted(
    keyed_client: tuple[TestClient, Service], sample_image: Path
) -> None:
    client, service = keyed_client
    page = client.get("/ui/", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/ui/"
    assert client.get("/ui/config").status_code == 401  # not a page: the API's 401
    # calling the UI's submit endpoint without a key: refused before it reaches the service
    upload = client.post("/ui/gradio_api/upload", files={"files": ("a.jpg", sample_image.read_bytes())})
    assert upload.status_code == 401
    call = client.post("/ui/gradio_api/call/run_image_to_video", json={"data": [None] * 12})
    assert call.status_code == 401
    assert service.store.search(limit=10)[0] == []
    # the login page itself needs no key; a wrong key is refused with a plain message
    assert client.get("/login").status_code == 200
    wrong = client.post("/login", data={"key": "nope", "next": "/ui/"}, follow_redirects=False)
    assert wrong.status_code == 401 and "not valid" in wrong.text
    assert SESSION_COOKIE not in wrong.cookies


def test_login_sets_a_session_cookie_that_opens_ui_and_api(keyed_client: tuple[TestClient, Service]) -> None:
    client, _ = keyed_client
    ok = client.post("/login", data={"key": "beta-key", "next": "/ui/"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "beta-key" not in cookie
    assert client.get("/ui/config").status_code == 200
    assert client.get("/v1/jobs").status_code == 200
    # a forged cookie is no key
    client.cookies.clear()
    forged = client.get("/v1/jobs", headers={"cookie": f"{SESSION_COOKIE}={'0' * 64}"})
    assert forged.status_code == 401
    # no open redirect: only paths on this server
    away = client.post("/login", data={"key": "beta-key", "next": "//evil.example/"}, follow_redirects=False)
    assert away.headers["location"] == "/ui/"
    # the session ends on the server at logout: the same cookie, sent again, is refused
    client.cookies.clear()
    again = client.post("/login", data={"key": "beta-key", "next": "/ui/"}, follow_redirects=False)
    token = again.cookies[SESSION_COOKIE]
    assert token != ok.cookies[SESSION_COOKIE]  # each login hands out a new token
    client.cookies.clear()
    session = {"cookie": f"{SESSION_COOKIE}={token}"}
    assert client.get("/v1/jobs", headers=session).status_code == 200
    out = client.get("/logout", headers=session, follow_redirects=False)
    assert out.status_code == 303 and SESSION_COOKIE in out.headers["set-cookie"]
    assert client.get("/v1/jobs", headers=session).status_code == 401


def test_ui_jobs_belong_to_the_key_and_history_shows_only_its_own(
    keyed_client: tuple[TestClient, Service], sample_image: Path
) -> None:

    client, service = keyed_client
    alpha = {"Authorization": "Bearer alpha-key"}
    uploaded = client.post(
        "/ui/gradio_api/upload", headers=alpha, files={"files": ("a.jpg", sample_image.read_bytes())}
    )
    assert uploaded.status_code == 200, uploaded.text
    path = uploaded.json()[0]
    image = {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "a.jpg"}
    specs = form_specs(ImageToVideoParams)
    values = values_from_params(specs, {"resolution": "256p", "num_frames": 4})
    data = [image, "camera", *values]
    call = client.post("/ui/gradio_api/call/run_image_to_video", headers=alpha, json={"data": data})
    assert call.status_code == 200, call.text
    stream = client.get(f"/ui/gradio_api/call/run_image_to_video/{call.json()['event_id']}", headers=alpha)
    events = [json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: ")]
    final = events[-1]
    assert "Done" in final[0], final
    job = service.get(final[2], SYSTEM)
    assert job.owner is not None and job.request["params"] == {"resolution": "256p", "num_frames": 4}
    assert job.request["input_names"] == {"image": ["a.jpg"]}
    mine, _ = service.list_jobs(Caller(owner=job.owner))
    assert [r.id for r in mine] == [job.id]
    others, _ = service.list_jobs(Caller(owner="someone-else"))
    assert others == []


# --- a task's tab from its spec alone --------------------------------------------------------


class ClipParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    loud: bool = Field(False, description="Louder.")


@pytest.fixture
def kinds_task() -> Iterator[tasks.TaskSpec]:
    """A task no UI code knows: a video, several audio files and a text in; audio out; no presets."""
    spec = tasks.TaskSpec(
        name="webui-kinds",
        title="Kinds",
        description="Every input kind.",
        params_model=ClipParams,
        inputs=(
            tasks.MediaInput("clip", "video", description="A video"),
            tasks.MediaInput("voice", "audio", description="Voices", multiple=True),
            tasks.MediaInput("script", "text", description="What to say", required=False),
        ),
        output="audio",
    )
    tasks.register_task(spec)
    yield spec
    tasks.unregister_task(spec.name)


def test_a_tabs_inputs_result_and_presets_come_from_its_spec(
    settings: Settings, kinds_task: tasks.TaskSpec, sample_image: Path
) -> None:
    pages = Pages(Service(settings, run_jobs=False))
    page = components(pages.build())
    # inputs by kind; a batch input has a box for its further files
    assert page["webui-kinds-clip"]["component"] == "video"
    assert page["webui-kinds-voice"]["component"] == "audio"
    assert page["webui-kinds-voice-more"]["component"] == "file"
    assert page["webui-kinds-script"]["component"] == "textbox"
    # the result in the player of its output kind; no presets declared, no preset picker
    assert page["webui-kinds-audio"]["component"] == "audio"
    assert "webui-kinds-video" not in page and "webui-kinds-preset" not in page
    # genserve's own: video players, the document view for recognize, and their presets
    assert page["image-to-video-video"]["component"] == page["talking-head-video"]["component"] == "video"
    for slot, kind in (("text", "textbox"), ("boxes", "gallery"), ("document", "markdown"), ("json", "json")):
        assert page[f"recognize-{slot}"]["component"] == kind
    assert [v for _, v in page["recognize-preset"]["choices"]] == ["Fast", "Standard", "High quality"]
    # the history has a player per kind, the video's shown until a job is picked
    assert page["history-audio"]["component"] == "audio" and page["history-audio"]["visible"] is False
    assert page["history-video"]["visible"] is not False
    # typed text goes as a UTF-8 file; a missing required input is refused naming it
    tab = pages.tabs["webui-kinds"]
    sub = running.submission(
        tab, [str(sample_image), str(sample_image), "  hello 你好 "], None, [False], None
    )
    assert sorted(sub.files) == ["clip", "script", "voice"]
    (script,) = sub.files["script"]
    assert script.filename == "text.txt" and script.path.read_text(encoding="utf-8") == "  hello 你好 "
    with pytest.raises(InvalidInput, match="clip: is required") as refused:
        running.submission(tab, [None, str(sample_image), ""], None, [False], None)
    assert "upload a video in the Clip box" in refused.value.message
    assert "script" not in running.submission(tab, [str(sample_image)] * 2 + [" "], None, [False], None).files


def test_a_tasks_own_suggestion_is_shown_and_a_failing_one_is_not(
    settings: Settings, kinds_task: tasks.TaskSpec, sample_image: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pages = Pages(Service(settings, run_jobs=False))

    def louder(path: Path) -> tasks.Suggestion:
        return tasks.Suggestion("louder", "The clip {name} is quiet.", {"loud": True}, {"name": path.name})

    text, button, params = pages._suggest(dataclasses.replace(kinds_task, suggest=louder), str(sample_image))
    assert text.visible is True and "louder" in text.value and f"{sample_image.name} is quiet" in text.value
    assert button.visible is True and params == {"loud": True}

    def broken(path: Path) -> tasks.Suggestion:
        raise RuntimeError("no decoder")

    text, button, params = pages._suggest(dataclasses.replace(kinds_task, suggest=broken), str(sample_image))
    assert text.visible is False and params == {} and "no decoder" in caplog.text
