"""The web app in a real browser: headless Chromium (the system's, driven by Playwright) opens the page served on
127.0.0.1, uploads a generated video, presses *Score* and sees the result; the page is saved as a screenshot.

Skipped with a reason when Chromium or Playwright is missing, unless ``SURGICAL_SKILL_REQUIRE_BROWSER=1`` (set
by ``.ci/run`` once it has installed Chromium): then their absence fails. ``SURGICAL_SKILL_APP_SCREENSHOT=PATH``
also copies the screenshot to PATH (``python docs/make_app_screenshot.py`` regenerates ``docs/app.png``).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from surgical_skill.testing_utils import make_test_video
from tests.helpers import optional_part_missing, save_tiny_model

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CARD = """# tiny-suturing

## Intended use and limitations

- For research and for training feedback on recorded bench-top suturing drills; not a medical device.
- This page was scored by a tiny random model made for the tests: its labels mean nothing.
"""


def _missing(reason: str):
    optional_part_missing(reason, "SURGICAL_SKILL_REQUIRE_BROWSER", "Chromium and Playwright")


def chromium_path() -> str:
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    _missing("no Chromium here (apt-get install chromium); the browser test needs the system's browser")


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        chrome = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield chrome
        chrome.close()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    pytest.importorskip("gradio")
    import torch

    from surgical_skill.app import launch_app

    torch.manual_seed(0)  # the same random model, hence the same screenshot, each time
    model = save_tiny_model(
        tmp_path_factory.mktemp("app") / "tiny-suturing", id2label=["lower-skilled", "higher-skilled"]
    )
    (model / "README.md").write_text(CARD)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch_app(model, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def test_the_page_scores_an_uploaded_video_and_shows_the_result(browser, app_url, tmp_path):
    video = make_test_video(tmp_path / "trial_07.mp4", 90, height=144, width=192, seed=7)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(app_url, wait_until="networkidle")
        assert "Intended use and limitations" in page.inner_text("#model-card")
        page.set_input_files("#video-input input[type=file]", str(video))
        page.wait_for_selector("#video-input >> text=trial_07.mp4", timeout=60_000)  # the upload finished
        page.click("#score-button")
        label = page.locator("#result-label")
        label.get_by_text("skilled").first.wait_for(timeout=60_000)
        text = label.inner_text()
        assert "lower-skilled" in text and "higher-skilled" in text  # the label and both probabilities
        assert page.locator("#worst-clips img").count() >= 1  # the frames of the weakest clips
        assert page.locator("#timeline-plot img, #timeline-plot svg, #timeline-plot canvas").count() >= 1
        assert page.locator("#result-json").get_by_text(".json").count() >= 1
        assert page.input_value("#error-box textarea") == ""
        page.wait_for_timeout(500)  # let the plot and gallery settle before the picture
        shot = tmp_path / "app.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    assert shot.stat().st_size > 10_000
    if target := os.environ.get("SURGICAL_SKILL_APP_SCREENSHOT"):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


def test_a_corrupt_upload_shows_its_message_on_the_page(browser, app_url, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is no video at all" * 20)
    page = browser.new_page()
    try:
        page.goto(app_url, wait_until="networkidle")
        page.set_input_files("#video-input input[type=file]", str(broken))
        page.wait_for_selector("#video-input >> text=broken.mp4", timeout=60_000)
        page.click("#score-button")
        page.wait_for_function(
            "() => document.querySelector('#error-box textarea').value.includes('broken.mp4')", timeout=60_000
        )
        message = page.input_value("#error-box textarea")
        assert "Traceback" not in message
    finally:
        page.close()
