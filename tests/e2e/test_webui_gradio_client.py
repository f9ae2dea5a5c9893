"""``gradio_client`` calls the web UI's endpoints on a real uvicorn server, with an API key: the
same jobs, queue and results as the REST API (image-to-video, talking-head, recognize), the history
endpoints, teaching errors for bad values, and no way in without a key."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageDraw, ImageFont
from webui_server import webui_server

from genserve.config import Settings
from genserve.media.video import probe_video
from genserve.tasks import TASKS
from genserve.webui.forms import form_specs, values_from_params

KEY = "client-test-key"
FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
CALL_TIMEOUT_S = 120


def form(task: str, **params: Any) -> list[Any]:
    """The widget values of ``task``'s form with ``params`` set (positional, as the page sends)."""
    return values_from_params(form_specs(TASKS[task].params_model), params)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("webui-client")
    settings = Settings(output_dir=root / "outputs", data_dir=root / "data", api_keys=KEY)
    with webui_server(settings) as base:
        yield base


@pytest.fixture(scope="module")
def client(server: str) -> Client:
    return Client(f"{server}/ui/", headers={"Authorization": f"Bearer {KEY}"}, verbose=False)


def test_endpoints_are_listed(client: Client) -> None:
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name in ("/run_image_to_video", "/run_talking_head", "/run_recognize", "/history", "/job_detail"):
        assert name in named
    # one parameter per media input, the backend, then one per Params field
    params = named["/run_image_to_video"]["parameters"]
    assert len(params) == 1 + 1 + len(TASKS["image-to-video"].params_model.model_fields)
    # recognize takes a batch: its first image, then the further images
    params = named["/run_recognize"]["parameters"]
    assert len(params) == 1 + 1 + 1 + len(TASKS["recognize"].params_model.model_fields)


def test_image_to_video_through_the_client(client: Client, landscape_png: Path) -> None:
    status, notes, job_id, video = client.predict(
        handle_file(str(landscape_png)),
        "camera",
        *form("image-to-video", resolution="256p", num_frames=12, fps=6, motion="pan_right"),
        api_name="/run_image_to_video",
    )
    assert re.fullmatch(r"Done in \d+\.\d s", status), status  # words, not HTML (the README's example)
    info = probe_video(video["video"] if isinstance(video, dict) else video)
    assert (info.short_side, info.num_frames, info.fps) == (256, 12, 6)
    assert notes == ""  # only the changed params were sent: no "not used by camera" noise
    thumbnails, rows = client.predict(api_name="/history")  # plain values, no component updates
    assert thumbnails[0]["caption"].startswith("succeeded · image-to-video")
    assert rows["data"][0][0] == job_id and rows["data"][0][3] == "succeeded"
    summary, shown, detail_video, files, text, boxes, image, audio, result = client.predict(
        job_id, api_name="/job_detail"
    )
    assert image is None and audio is None and result is None  # only the players of a video task
    assert "camera" in summary and detail_video is not None  # the player in the history tab
    assert text == "" and not boxes
    assert shown["requested"] == {"resolution": "256p", "num_frames": 12, "fps": 6, "motion": "pan_right"}
    assert shown["effective"]["motion_preset"] == "pan_right"
    assert [Path(f).name for f in files] == ["video.mp4"]


def test_bad_value_is_refused_with_the_teaching_message(client: Client, landscape_png: Path) -> None:
    status, notes, job_id, video = client.predict(
        handle_file(str(landscape_png)),
        "camera",
        *form("image-to-video", seed="twelve"),
        api_name="/run_image_to_video",
    )
    assert job_id == "" and video is None and status == "Failed"
    assert notes.startswith("**Not submitted:**") and "seed" in notes and "twelve" in notes and "Fix" in notes
    status, notes, job_id, _ = client.predict(
        None, "camera", *form("image-to-video"), api_name="/run_image_to_video"
    )
    assert "image: is required" in notes and "upload" in notes and job_id == ""


def test_talking_head_through_the_client(client: Client, sample_image: Path, speech_wav: Path) -> None:
    status, notes, job_id, video = client.predict(
        handle_file(str(sample_image)),
        handle_file(str(speech_wav)),
        "portrait",
        *form("talking-head", min_resolution=256, fps=12, inference_steps=10),
        api_name="/run_talking_head",
    )
    assert status.startswith("Done") and job_id, notes
    # the portrait backend has no steps: it says so (not "below 20: may jitter" as well), in plain words
    assert notes == "**Note:** inference_steps is not used by the portrait backend"
    info = probe_video(video["video"] if isinstance(video, dict) else video)
    assert info.has_audio and info.short_side == 256 and abs(info.duration - info.audio_duration) < 0.5


def text_page(path: Path, text: str) -> Path:
    page = Image.new("RGB", (640, 200), "white")
    ImageDraw.Draw(page).text((30, 60), text, font=ImageFont.truetype(str(FONT), 48), fill="black")
    page.save(path)
    return path


def red_outlines(picture: str) -> np.ndarray:
    drawn = np.asarray(Image.open(picture).convert("RGB")).astype(int)
    return (drawn[..., 0] > 200) & (drawn[..., 1] < 90) & (drawn[..., 2] < 90)


@pytest.mark.skipif(not FONT.exists(), reason="needs fonts-wqy-microhei (scripts/setup.sh)")
def test_recognize_returns_json_and_the_image_with_boxes(client: Client, tmp_path: Path) -> None:
    path = text_page(tmp_path / "text.png", "genserve 服务 2024")
    status, notes, job_id, text, gallery, _document, result = client.predict(
        handle_file(str(path)), None, "rapidocr", *form("recognize", labels=False), api_name="/run_recognize"
    )
    assert status.startswith("Done") and job_id, notes
    found = " ".join(b["text"] for b in result["text_blocks"])
    assert "genserve" in found.lower() and "2024" in found
    # the text first, each block numbered as in the JSON (from 0)
    assert text.splitlines()[0] == "text.png"
    assert text.splitlines()[1] == f"0  {result['text_blocks'][0]['text']}"
    summary, _, video, _, detail_text, boxes, *_others = client.predict(job_id, api_name="/job_detail")
    assert "rapidocr" in summary and video is None  # the history shows the text, not a video player
    assert detail_text == text and len(boxes) == 1
    (shown,) = gallery
    assert shown["caption"] == "text.png"
    red = red_outlines(shown["image"])
    assert red.sum() > 200  # outlines drawn around the text
    x0, y0, x1, y1 = result["text_blocks"][0]["bbox"]
    assert red[int(y0) : int(y1) + 3, int(x0) : int(x1) + 3].any()
    json.dumps(result)  # the JSON is plain data


@pytest.mark.skipif(not FONT.exists(), reason="needs fonts-wqy-microhei (scripts/setup.sh)")
def test_recognize_batch_of_three_in_one_job(client: Client, tmp_path: Path) -> None:
    first = text_page(tmp_path / "first.png", "第一张 first")
    more = [text_page(tmp_path / "second.png", "Second 2"), text_page(tmp_path / "third.png", "第三 333")]
    status, notes, job_id, text, gallery, _document, result = client.predict(
        handle_file(str(first)),
        [handle_file(str(p)) for p in more],
        "rapidocr",
        *form("recognize", labels=False),
        api_name="/run_recognize",
    )
    assert status.startswith("Done") and job_id, notes
    assert [line for line in text.splitlines() if line.endswith(".png")] == [
        "first.png",
        "second.png",
        "third.png",
    ]
    items = result["items"]
    assert [i["image_path"] for i in items] == ["first.png", "second.png", "third.png"]
    texts = ["".join(b["text"] for b in i["text_blocks"]).replace(" ", "") for i in items]
    assert "第一张" in texts[0] and "Second2" in texts[1] and "333" in texts[2]
    # one outlined picture per image, in the same order, each with its own boxes
    assert [g["caption"] for g in gallery] == ["first.png", "second.png", "third.png"]
    for shown, item in zip(gallery, items, strict=True):
        red = red_outlines(shown["image"])
        x0, y0, x1, y1 = item["text_blocks"][0]["bbox"]
        assert red[int(y0) : int(y1) + 3, int(x0) : int(x1) + 3].any()


def test_no_key_no_client(server: str) -> None:
    assert httpx.get(f"{server}/ui/config", timeout=10).status_code == 401
    with pytest.raises(ValueError, match="credentials were not provided"):
        Client(f"{server}/ui/", verbose=False)


def test_cancel_from_the_ui_stops_a_job_started_anywhere(
    server: str, client: Client, sample_image: Path
) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    with sample_image.open("rb") as fh:
        created = httpx.post(
            f"{server}/v1/jobs",
            headers=auth,
            data={"task": "image-to-video", "backend": "camera", "resolution": "1024p", "num_frames": "256"},
            files={"image": ("sample.jpg", fh)},
            timeout=30,
        )
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    said = client.predict(job_id, api_name="/cancel_image_to_video")
    assert said in ("Canceled.", "Cancel requested: it stops at its next step.")
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = httpx.get(f"{server}/v1/jobs/{job_id}", headers=auth, timeout=10).json()["status"]
        if status in ("canceled", "succeeded", "failed"):
            break
        time.sleep(0.2)
    assert status == "canceled"
    summary, *_ = client.predict(job_id, api_name="/job_detail")
    assert "Canceled" in summary
    assert client.predict(job_id, api_name="/cancel_image_to_video") == "Canceled."  # idempotent
    missing = client.predict("no-such-job", api_name="/cancel_image_to_video")
    assert missing.startswith("**Not canceled:**") and "no such job" in missing


def test_the_readmes_client_example_returns_readable_status(
    server: str, sample_image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's gradio_client example, run as written (its server, key and photo swapped in)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Web UI") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    code = code[: code.index("```")]
    assert 'handle_file("photo.jpg")' in code and "<key>" in code
    code = code.replace("http://127.0.0.1:7860/ui/", f"{server}/ui/").replace("<key>", KEY)
    (tmp_path / "photo.jpg").write_bytes(sample_image.read_bytes())
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)  # the README's own example
    assert re.fullmatch(r"Done in \d+\.\d s", scope["status"]), scope["status"]
    assert scope["notes"] == "" and scope["job_id"] and scope["video"]
