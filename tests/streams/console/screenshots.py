"""The docs' screenshots from a running demo, not a test.

With ``leakguard demo --no-guards`` running, this signs in to the first console on lanes 1
and 2 as a guard would, answers every alarm from the keyboard for a while (each alarm
cleared as false with probability ``--false-share``, the rest confirmed), saves the first
alarm that has detections below the threshold as ``console.png`` and, at the end, the
managers' overview as ``overview.png``::

    .venv/bin/leakguard demo --no-guards --duration 300 &
    .venv/bin/python tests/streams/console/screenshots.py --answer-s 180
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _sign_in(page: Page, url: str, lane: str, guard: str, password: str) -> None:
    page.goto(url + "/login", timeout=120_000)
    page.fill("input[name=guard]", guard)
    page.fill("input[name=password]", password)
    page.select_option("select[name=lane]", lane)
    page.click("button[type=submit]")
    page.wait_for_selector("#guard-id")


def _alarm(page: Page) -> tuple[str, int, int] | None:
    """The frame id on screen, its alarms and its hidden detections, once its image shows."""
    state = page.evaluate(
        """() => {
      const banner = document.getElementById("alarm-banner");
      const image = document.getElementById("frame-image");
      if (banner.hidden || !banner.dataset.frameId || !image.complete || !image.naturalWidth) {
        return null;
      }
      const hidden = parseInt(document.getElementById("quiet-note").textContent, 10) || 0;
      return [banner.dataset.frameId, document.querySelectorAll("#objects li").length, hidden];
    }"""
    )
    return None if state is None else (str(state[0]), int(state[1]), int(state[2]))


def main() -> None:
    """Answer alarms for ``--answer-s`` seconds, then save the two screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--guard", default="demo")
    parser.add_argument("--password", default="leakguard-demo")
    parser.add_argument("--answer-s", type=float, default=180.0)
    parser.add_argument("--false-share", type=float, default=0.3)
    parser.add_argument("--out", type=Path, default=DOCS_IMG)
    args = parser.parse_args()
    rng = random.Random(23)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--headless"]
        )
        pages = []
        for lane in ("1", "2"):
            page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
            _sign_in(page, args.url, lane, args.guard, args.password)
            pages.append(page)
        shot = False
        answered: set[str] = set()
        deadline = time.monotonic() + args.answer_s
        while time.monotonic() < deadline:
            for page in pages:
                alarm = _alarm(page)
                if alarm is None or alarm[0] in answered:
                    continue
                frame_id, alarms, hidden = alarm
                page.wait_for_timeout(rng.uniform(800, 2500))  # a guard looks first
                if not shot and hidden > 0:
                    page.screenshot(path=str(args.out / "console.png"))
                    shot = True
                for n in range(1, min(alarms, 9) + 1):
                    if rng.random() < args.false_share:
                        page.keyboard.press(str(n))
                page.keyboard.press("Enter")
                answered.add(frame_id)
            time.sleep(0.3)  # between looks at the screens, for --answer-s in all
        overview = pages[0]
        overview.goto(args.url + "/overview")
        overview.wait_for_selector("#updated:has-text('Last update')", timeout=60_000)
        overview.wait_for_timeout(1000)
        overview.screenshot(path=str(args.out / "overview.png"), full_page=True)
        browser.close()
    print(f"answered {len(answered)} alarms; console shot: {shot}")


if __name__ == "__main__":
    main()
