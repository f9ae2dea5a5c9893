"""The web UI in 简体中文 and English: every text the page shows has a translation in each
catalogue (src/genserve/webui/locales/*.po), a parameter added to a Params model asks for its own,
the page follows the browser's language with a remembered switch, refusals are rendered per error
code in the page's language with the English message beside them, and the REST API stays English."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import Field

from genserve import errors, tasks
from genserve.api import create_app
from genserve.config import Settings
from genserve.errors import InvalidInput
from genserve.service import Service
from genserve.tasks.image_to_video import ImageToVideoParams
from genserve.webui import render
from genserve.webui.i18n import COOKIE, LANGUAGES, Translator, catalogue_path, messages, missing, negotiate
from genserve.webui.pages import Pages

MARK = "\u27e6"  # what the marking translator puts in front of every text it was asked for


class Marking(Translator):
    """English, each text marked: a text on the page without the mark bypassed the catalogues."""

    def gettext(self, message: str) -> str:
        return MARK + super().gettext(message) if message else message


def page_texts(blocks: Any) -> list[tuple[str, str, str]]:
    """(elem_id or type, prop, text) for every human-readable text in the page's components."""
    found = []
    for comp in blocks.config["components"]:
        props, kind = comp.get("props", {}), comp["type"]
        where = props.get("elem_id") or kind
        for prop in ("label", "info", "placeholder"):
            if isinstance(props.get(prop), str) and props[prop].strip():
                found.append((where, prop, props[prop]))
        if kind in ("markdown", "button") and isinstance(props.get("value"), str) and props["value"].strip():
            found.append((where, "value", props["value"]))
        if kind == "radio":
            found.extend((where, "choice", str(label)) for label, _ in props.get("choices", []))
        if kind == "dataframe":
            headers = (props.get("value") or {}).get("headers") or []
            found.extend((where, "header", str(h)) for h in headers)
        if kind == "tabitem" and isinstance(props.get("label"), str):
            found.append((where, "tab", props["label"]))
    return found


# shown as it is: the product's name (the language switch names each language in its own words)
AS_IS = {"# genserve"}


def test_every_text_on_the_page_comes_from_the_catalogues(settings: Settings) -> None:
    blocks = Pages(Service(settings, run_jobs=False), translator=Marking("en")).build()
    texts = page_texts(blocks)
    assert len(texts) > 60
    bypassed = [(where, prop, text) for where, prop, text in texts if MARK not in text and text not in AS_IS]
    assert not bypassed, f"texts shown without a translation: {bypassed}"


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_no_ui_text_is_missing_from_a_catalogue(lang: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from genserve.backends.base import Backend
    from genserve.backends.registry import backend_classes

    # a plugin's backend (other tests register some) keeps its own words: nothing to translate here

    attrs = {"name": "plugin", "task": "recognize", "description": "a plugin's own words"}
    plugin = type("Plugin", (Backend,), attrs)
    plugin.__module__ = "someone_elses_plugin"
    monkeypatch.setitem(backend_classes(), "plugin", plugin)
    assert catalogue_path(lang).is_file()
    gaps = missing(lang)
    assert not gaps, f"{catalogue_path(lang).name} lacks (python -m genserve.webui.i18n): {gaps}"


class WithNewField(ImageToVideoParams):
    sharpen: float = Field(0.25, ge=0.0, le=1.0, description="How much to sharpen each frame (0 = off).")


def test_a_parameter_added_to_a_params_model_asks_for_its_translation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = dataclasses.replace(tasks.TASKS["image-to-video"], params_model=WithNewField)
    monkeypatch.setitem(tasks.TASKS, "image-to-video", spec)
    assert "How much to sharpen each frame (0 = off)." in messages()
    assert set(missing("zh-CN")) == {"Sharpen", "How much to sharpen each frame (0 = off)."}
    # until it has one, the page shows the English (the fallback), with no UI code for it
    assert Translator("zh-CN")("How much to sharpen each frame (0 = off).").startswith("How much")


def test_the_chinese_page_has_chinese_labels_help_and_presets(settings: Settings) -> None:
    from test_webui_forms import components

    page = components(Pages(Service(settings, run_jobs=False), lang="zh-CN").build())
    assert page["image-to-video-param-fps"]["label"] == "帧率（FPS）"
    assert page["image-to-video-param-num_frames"]["info"] == "帧数。帧越多，视频越长。"
    assert page["talking-head-param-duration"]["label"] == "时长（秒）"
    assert page["recognize-param-top_k"]["label"] == "标签数量"
    assert page["recognize-submit"]["value"] == "运行"
    assert [label for label, _ in page["image-to-video-preset"]["choices"]] == ["快速", "标准", "高质量"]
    values = [value for _, value in page["image-to-video-preset"]["choices"]]
    assert values == ["Fast", "Standard", "High quality"]  # what the handlers get stays English
    assert (
        "<b>简体中文</b>" in page["language"]["value"] and 'href="/ui/lang/en"' in page["language"]["value"]
    )
    english = components(Pages(Service(settings, run_jobs=False), lang="en").build())
    assert english["image-to-video-param-fps"]["label"] == "FPS"


def test_refusals_per_error_code_in_the_pages_language_with_the_english_beside() -> None:
    codes = {cls.code for cls in (errors.GenserveError, *_subclasses(errors.GenserveError))}
    assert codes <= set(render.CODE_HEADLINES), codes - set(render.CODE_HEADLINES)
    refused = InvalidInput("must be at most 600", argument="duration", value=700, fix="pass 12.3")
    zh = render.error_markdown(refused, Translator("zh-CN"))
    assert zh.startswith("**未提交：** 参数或输入不符合规则（`duration`）")
    assert zh.endswith(f"*原始信息（英文）：* {refused.message}")
    assert (
        render.error_markdown(refused) == f"**Not submitted:** {refused.message}"
    )  # English: as the API says
    failed = {"id": "j", "status": "failed", "error": "out_of_memory", "message": "CUDA out of memory"}
    assert render.notes_markdown(failed, Translator("zh-CN")).startswith("**错误：** 内存不足")
    assert render.status_line(failed, Translator("zh-CN")) == "失败"


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def test_language_follows_the_switch_then_the_browser_then_english() -> None:
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert negotiate("zh") == negotiate("zh-Hans-CN") == "zh-CN"
    assert negotiate("en-US,en;q=0.9,zh-CN;q=0.5") == "en"
    assert negotiate("fr-FR,de;q=0.5") == "en"  # English is the fallback
    assert negotiate("zh-CN", cookie="en") == "en"  # the remembered switch wins
    assert negotiate(None, cookie="zh-CN") == "zh-CN"
    assert negotiate("zh-CN", cookie="xx") == "zh-CN"


@pytest.fixture
def ui(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, webui=True), follow_redirects=False) as client:
        yield client


def test_ui_opens_in_the_browsers_language_and_the_switch_is_remembered(ui: TestClient) -> None:
    page = {"accept": "text/html", "accept-language": "zh-CN,zh;q=0.9"}
    sent = ui.get("/ui/", headers=page)
    assert sent.status_code == 307 and sent.headers["location"] == "/ui/zh-CN/"
    chinese = ui.get("/ui/zh-CN/", headers=page)
    assert chinese.status_code == 200 and "get: () => name === 'language' ? 'zh-CN'" in chinese.text
    assert "运行" in ui.get("/ui/zh-CN/config").text
    # the switch: a cookie, then the page in that language, even for a Chinese browser
    switched = ui.get("/ui/lang/en", headers=page)
    assert switched.status_code == 303 and switched.headers["location"] == "/ui/"
    assert f"{COOKIE}=en" in switched.headers["set-cookie"] and "Max-Age" in switched.headers["set-cookie"]
    assert ui.get("/ui/", headers=page).status_code == 200  # the cookie is kept by the client
    back = ui.get("/ui/lang/zh-CN", headers=page)
    assert back.headers["location"] == "/ui/zh-CN/"
    assert ui.get("/ui/", headers=page).headers["location"] == "/ui/zh-CN/"
    # an English browser, and API clients, stay at /ui/ in English
    ui.cookies.clear()
    english = ui.get("/ui/", headers={"accept": "text/html", "accept-language": "en-GB"})
    assert english.status_code == 200 and "'en' : ['en']" in english.text  # gradio's words too
    assert '"Run"' in ui.get("/ui/config").text


def test_rest_api_stays_english_for_a_chinese_browser(ui: TestClient, sample_image: Any) -> None:
    with sample_image.open("rb") as fh:
        refused = ui.post(
            "/v1/jobs",
            data={"task": "image-to-video", "seed": "twelve"},
            files={"image": ("s.jpg", fh)},
            headers={"accept-language": "zh-CN"},
        )
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "invalid_input" and "seed" in body["message"]
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in refused.text)


def test_genserves_own_warnings_are_shown_in_chinese(settings: Settings, sample_image: Any) -> None:
    """The warning templates match what the code really says (a reworded warning fails here)."""
    from types import SimpleNamespace

    import numpy as np

    from genserve.device import select_device
    from genserve.jobs.request import JobRequest, prepare
    from genserve.tasks.talking_head import TalkingHeadParams, check

    audio = SimpleNamespace(duration=2.0, samples=np.full(100, 0.5), path=None)
    params = TalkingHeadParams(inference_steps=10, dynamic_scale=1.5)
    _, said = check(SimpleNamespace(audio=audio, names={}), params)  # type: ignore[arg-type]
    said += select_device("cuda", ("cpu",))[1] if not _cuda() else []
    said += select_device("cpu", ("cuda",))[1]
    request = JobRequest("image-to-video", {"image": sample_image}, {"steps": 10}, backend="camera")
    said += prepare(request, settings).warnings
    zh = Translator("zh-CN")
    shown = [render.warning_text(w, zh) for w in said]
    assert len(said) >= 4, said
    untranslated = [w for w, s in zip(said, shown, strict=True) if s == w]
    assert not untranslated, untranslated
    assert "steps 10" not in " ".join(shown) and any(s == "camera 后端不使用参数 steps" for s in shown)


def _cuda() -> bool:
    from genserve.device import cuda_available

    return cuda_available()
