"""The web UI in a real browser (Debian chromium, headless) against a real uvicorn server.

With an API key configured: the page sends the browser to the login page, the key signs it in;
then it uploads a portrait, accepts the upload suggestion, starts an image-to-video job on the
camera backend, watches the progress bar move, plays the video, and opens the history tab, where
"run again" fills the form back in. A screenshot of each tab goes to test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from webui_server import webui_server

import genserve
from genserve.config import Settings

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "webui"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
KEY = "ui-test-key"
STEP_MS = 30_000  # every wait in the browser is bounded
JOB_MS = 120_000
NUM_FRAMES = 240  # NOTE: ~1.5-3 s on the camera backend here: several progress updates reach the page

pytestmark = pytest.mark.slow

# records every value the job's <progress> element takes, from before the click to the end
WATCH_PROGRESS = """
() => {
  window.__seen = [];
  const record = () => {
    const bar = document.querySelector('#image-to-video-progress progress');
    if (bar) {
      const last = window.__seen[window.__seen.length - 1];
      const now = [bar.dataset.status, Number(bar.value), Number(bar.max)];
      if (!last || last.join() !== now.join()) window.__seen.push(now);
    }
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, attributes: true});
}
"""


@contextmanager
def chromium_page(locale: str = "en-US") -> Iterator[Any]:
    """A page in Debian's chromium (headless) asking for ``locale`` (Accept-Language), every wait
    bounded by STEP_MS; skips without it."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale=locale)
            page.set_default_timeout(STEP_MS)
            yield page
        finally:
            browser.close()


@pytest.fixture
def portrait() -> Path:
    """The bundled square portrait (512x512, a face)."""
    return Path(genserve.__file__).parent / "data" / "sample.jpg"


def test_browser_login_generate_progress_play_history(tmp_path: Path, portrait: Path) -> None:
    from playwright.sync_api import expect

    settings = Settings(output_dir=tmp_path / "outputs", data_dir=tmp_path / "data", api_keys=KEY)
    with webui_server(settings) as base, chromium_page() as page:
        # 1. no key: "/" ends on the login page; a wrong key is refused there
        page.goto(f"{base}/")
        expect(page.locator("#api-key")).to_be_visible()
        assert "/login" in page.url
        page.fill("#api-key", "wrong")
        page.click("#sign-in")
        expect(page.locator("#login-error")).to_contain_text("not valid")
        page.screenshot(path=str(ARTIFACTS / "login.png"))
        page.fill("#api-key", KEY)
        page.click("#sign-in")
        expect(page.locator("#tab-image-to-video")).to_be_visible()
        assert page.url.rstrip("/").endswith("/ui")

        # 2. run without an image: the refusal shows right under the button; an upload clears it
        page.click("#image-to-video-submit")
        notes = page.locator("#image-to-video-notes")
        expect(notes).to_contain_text("is required")
        expect(page.locator("#image-to-video-status")).to_contain_text("Failed")
        button, said = page.locator("#image-to-video-submit").bounding_box(), notes.bounding_box()
        assert button and said and 0 <= said["y"] - button["y"] < 250, (button, said)
        assert abs(said["x"] - button["x"]) < 200, (button, said)
        page.screenshot(path=str(ARTIFACTS / "refused.png"), full_page=True)

        # 3. upload the bundled square portrait: the refusal goes, a suggestion appears; accepting it
        # fills the prompt
        page.locator("#image-to-video-image input[type=file]").set_input_files(str(portrait))
        expect(notes).not_to_contain_text("is required")
        expect(page.locator("#image-to-video-status")).not_to_contain_text("Failed")
        expect(page.locator("#image-to-video-suggestion")).to_contain_text("gentle zoom-in")
        prompt = page.locator("#image-to-video-param-prompt textarea, #image-to-video-param-prompt input")
        expect(prompt.first).to_have_value("")  # a suggestion, not a silent change
        page.click("#image-to-video-accept")
        expect(prompt.first).to_have_value("the camera zooming in slowly on the subject")

        # 4. enough frames that progress shows; start, and watch the progress bar
        frames = page.locator("#image-to-video-param-num_frames input[type=number]")
        frames.fill(str(NUM_FRAMES))
        frames.press("Tab")
        fps = page.locator("#image-to-video-param-fps input[type=number]")
        fps.fill("24")
        fps.press("Tab")
        page.evaluate(WATCH_PROGRESS)
        page.click("#image-to-video-submit")
        done = page.locator('#image-to-video-progress progress[data-status="succeeded"]')
        expect(done).to_be_attached(timeout=JOB_MS)
        seen = page.evaluate("window.__seen")
        running = [(v, m) for s, v, m in seen if s == "running" and m == NUM_FRAMES]
        steps = [v for v, _ in running]
        assert len(set(steps)) >= 2, f"the progress bar did not move: {seen}"
        assert steps == sorted(steps) and 0 < steps[0] < NUM_FRAMES, seen

        expect(page.locator("#image-to-video-status")).to_contain_text(re.compile(r"Done in \d"))

        # 5. the video element loads the result and plays
        video = page.locator("#image-to-video-video video")
        expect(video).to_be_attached(timeout=STEP_MS)
        page.wait_for_function(
            "() => { const v = document.querySelector('#image-to-video-video video');"
            " return v && v.readyState >= 2 && v.duration > 5; }",
            timeout=STEP_MS,
        )
        start = video.evaluate("v => { v.muted = true; v.play(); return v.currentTime; }")
        page.wait_for_function(
            f"() => document.querySelector('#image-to-video-video video').currentTime > {start} + 0.3",
            timeout=STEP_MS,
        )
        assert video.evaluate("v => v.videoWidth") == 512  # the portrait's side at 512p
        page.screenshot(path=str(ARTIFACTS / "tab-image-to-video.png"), full_page=True)

        # 6. the other task tabs render their generated forms
        for task, field in (("talking-head", "dynamic_scale"), ("recognize", "top_k")):
            page.click(f"#tab-{task}-button")
            expect(page.locator(f"#{task}-param-{field}")).to_be_visible()
            expect(page.locator(f"#{task}-submit")).to_have_text("Run")
            page.screenshot(path=str(ARTIFACTS / f"tab-{task}.png"), full_page=True)

        # 7. history: the job with its thumbnail; a click on its row opens it, with its parameters
        # short in the table; "run again" fills the form back in
        page.click("#tab-history-button")
        expect(page.locator("#history-table")).to_contain_text("succeeded", timeout=STEP_MS)
        expect(page.locator("#history-gallery img").first).to_be_visible()
        expect(page.locator("#history-table")).to_contain_text(
            re.compile(r"prompt=the camera zooming[^,]*…, num_frames")
        )
        page.locator('#history-table [data-testid="cell-0-3"]').click()  # the status cell of the row
        expect(page.locator("#history-summary")).to_contain_text("camera")
        expect(page.locator("#history-params")).to_contain_text("zoom_in")  # the accepted suggestion
        page.screenshot(path=str(ARTIFACTS / "tab-history.png"), full_page=True)
        page.click("#history-again")
        expect(page.locator("#image-to-video-param-num_frames input[type=number]")).to_have_value(
            str(NUM_FRAMES)
        )
        expect(prompt.first).to_have_value("the camera zooming in slowly on the subject")
    for name in ("login", "tab-image-to-video", "tab-talking-head", "tab-recognize", "tab-history"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def test_browser_recognize_batch_and_run_again(tmp_path: Path) -> None:
    """Three images in one recognize job from the page; each comes back outlined, in order, and
    "run again" puts the further images back in their box."""
    font = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    if not font.exists():
        pytest.skip("needs fonts-wqy-microhei (scripts/setup.sh)")
    from PIL import ImageDraw, ImageFont
    from playwright.sync_api import expect

    pages = []
    for name, text in (("first", "第一张 first"), ("second", "Second 2"), ("third", "第三 333")):
        img = Image.new("RGB", (640, 200), "white")
        ImageDraw.Draw(img).text((30, 60), text, font=ImageFont.truetype(str(font), 48), fill="black")
        img.save(tmp_path / f"{name}.png")
        pages.append(tmp_path / f"{name}.png")
    settings = Settings(output_dir=tmp_path / "outputs", data_dir=tmp_path / "data")
    with webui_server(settings) as base, chromium_page() as page:
        page.goto(f"{base}/ui/")
        page.click("#tab-recognize-button")
        page.locator("#recognize-image input[type=file]").set_input_files(str(pages[0]))
        page.locator("#recognize-image-more input[type=file]").set_input_files([str(x) for x in pages[1:]])
        # the file list shows each name with its extension in a separate element
        expect(page.locator("#recognize-image-more")).to_contain_text(
            re.compile(r"second\s*\.png.*third\s*\.png")
        )
        page.click("#recognize-submit")
        expect(page.locator('#recognize-progress progress[data-status="succeeded"]')).to_be_attached(
            timeout=JOB_MS
        )
        # the text first, numbered as in the JSON, above the pictures and the JSON
        text = page.locator("#recognize-text textarea")
        expect(text).to_have_value(re.compile(r"^first\.png\n0  .*first", re.S))
        expect(text).to_have_value(re.compile(r"second\.png\n0  .*third\.png\n0  .*333", re.S))
        tops = [page.locator(f"#recognize-{part}").bounding_box() for part in ("text", "boxes", "json")]
        assert all(tops) and tops[0]["y"] < tops[1]["y"] < tops[2]["y"], tops
        gallery = page.locator("#recognize-boxes")
        expect(gallery.locator("img")).to_have_count(3)
        for name in ("first.png", "second.png", "third.png"):
            expect(gallery).to_contain_text(name)
        expect(page.locator("#recognize-json")).to_contain_text("third.png")
        page.screenshot(path=str(ARTIFACTS / "recognize-batch.png"), full_page=True)

        # a fresh page: the form is empty again, then "run again" fills it from the history
        page.reload()
        page.click("#tab-recognize-button")
        expect(page.locator("#recognize-image-more")).not_to_contain_text("third")
        page.click("#tab-history-button")
        expect(page.locator("#history-table")).to_contain_text("recognize", timeout=STEP_MS)
        expect(page.locator("#history-gallery img").first).to_be_visible()
        page.locator("#history-gallery img").first.click()
        expect(page.locator("#history-summary")).to_contain_text("rapidocr")
        # a recognize job's detail: its text and outlined images, no video player
        expect(page.locator("#history-text textarea")).to_have_value(re.compile(r"third\.png\n0  "))
        expect(page.locator("#history-boxes img")).to_have_count(3)
        expect(page.locator("#history-video")).to_be_hidden()
        page.screenshot(path=str(ARTIFACTS / "history-recognize.png"), full_page=True)
        page.click("#history-again")
        more = page.locator("#recognize-image-more")
        expect(more).to_contain_text(re.compile(r"second\s*\.png.*third\s*\.png"), timeout=STEP_MS)
    assert (ARTIFACTS / "recognize-batch.png").stat().st_size > 10_000


def test_browser_in_chinese_then_switched_to_english(
    tmp_path: Path, portrait: Path, speech_wav: Path
) -> None:
    """A browser asking for zh-CN gets the page in Chinese: labels, help texts, a job's status and
    a refusal (per error code, the English message beside it); the switch turns it English and is
    remembered."""
    from playwright.sync_api import expect

    settings = Settings(output_dir=tmp_path / "outputs", data_dir=tmp_path / "data")
    with webui_server(settings) as base, chromium_page(locale="zh-CN") as page:
        # 1. "/" opens the Chinese page: tabs, labels and help texts from the catalogue
        page.goto(f"{base}/")
        expect(page.locator("#tab-image-to-video-button")).to_have_text("图生视频")
        assert page.url.rstrip("/").endswith("/ui/zh-CN")
        fps = page.locator("#image-to-video-param-fps")
        expect(fps).to_contain_text("帧率（FPS）")
        expect(fps).to_contain_text("MP4 每秒的帧数")
        expect(page.locator("#image-to-video-submit")).to_have_text("运行")
        expect(page.locator("#image-to-video-image")).to_contain_text("点击上传")  # gradio's own words

        # 2. a job: its suggestion and status in Chinese
        page.locator("#image-to-video-image input[type=file]").set_input_files(str(portrait))
        expect(page.locator("#image-to-video-suggestion")).to_contain_text("缓慢推近")
        page.click("#image-to-video-submit")
        expect(page.locator('#image-to-video-progress progress[data-status="succeeded"]')).to_be_attached(
            timeout=JOB_MS
        )
        expect(page.locator("#image-to-video-status")).to_contain_text("完成，用时")
        page.screenshot(path=str(ARTIFACTS / "zh-image-to-video.png"), full_page=True)

        # 3. a bad duration on the talking-head tab: refused in Chinese, the English beneath
        page.click("#tab-talking-head-button")
        expect(page.locator("#talking-head-param-duration")).to_contain_text("时长（秒）")
        page.locator("#talking-head-image input[type=file]").set_input_files(str(portrait))
        page.locator("#talking-head-audio input[type=file]").set_input_files(str(speech_wav))
        duration = page.locator("#talking-head-param-duration textarea, #talking-head-param-duration input")
        duration.first.fill("700")
        duration.first.press("Tab")
        page.click("#talking-head-submit")
        notes = page.locator("#talking-head-notes")
        expect(notes).to_contain_text("未提交：", timeout=STEP_MS)
        expect(notes).to_contain_text("参数或输入不符合规则（duration）")
        expect(notes).to_contain_text("原始信息（英文）：")
        expect(notes).to_contain_text("700")
        expect(page.locator("#talking-head-status")).to_have_text("失败")
        page.screenshot(path=str(ARTIFACTS / "zh-refusal.png"), full_page=True)

        # 4. the history in Chinese
        page.click("#tab-history-button")
        expect(page.locator("#history-table")).to_contain_text("状态")
        expect(page.locator("#history-table")).to_contain_text("完成", timeout=STEP_MS)
        expect(page.locator("#history-table")).to_contain_text("图生视频")
        expect(page.locator("#history-gallery")).to_contain_text("完成 · 图生视频")

        # 5. the switch: English, and it stays English on the next visit
        page.locator("#language a", has_text="English").click()
        expect(page.locator("#tab-image-to-video-button")).to_have_text("Image to video")
        expect(page.locator("#image-to-video-param-fps")).to_contain_text("FPS")
        expect(page.locator("#image-to-video-submit")).to_have_text("Run")
        expect(page.locator("#image-to-video-image")).to_contain_text("Click to Upload")  # gradio's, too
        page.goto(f"{base}/")
        expect(page.locator("#tab-image-to-video-button")).to_have_text("Image to video")
        assert page.url.rstrip("/").endswith("/ui")
        page.screenshot(path=str(ARTIFACTS / "en-after-switch.png"), full_page=True)
    for name in ("zh-image-to-video", "zh-refusal", "en-after-switch"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
