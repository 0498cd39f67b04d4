"""Regenerate docs/app.png, the web app's screenshot in the README.

Runs the browser test (tests/test_app_browser.py: the app on 127.0.0.1 with a tiny model, a generated video
uploaded and scored in headless Chromium) and keeps its screenshot. Needs Chromium (apt-get install chromium) and
Playwright (pip install -e ".[dev,app]"). Usage, from the repository root:

    python docs/make_app_screenshot.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/test_app_browser.py::test_the_page_scores_an_uploaded_video_and_shows_the_result"


def main() -> int:
    target = ROOT / "docs" / "app.png"
    env = {**os.environ, "SURGICAL_SKILL_APP_SCREENSHOT": str(target), "SURGICAL_SKILL_REQUIRE_BROWSER": "1"}
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST], cwd=ROOT, env=env)
    if code == 0:
        print(f"wrote {target}")
    return code


if __name__ == "__main__":
    sys.exit(main())
