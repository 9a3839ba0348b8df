"""Browser fixtures of the console tests: Debian's Chromium driven by Playwright, a real
``leakguard console serve`` on the session broker with guard ``ana``, and the steps every
guard takes (sign in, wait for the alarm)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from schemas import Codec
from schemas.events import Detection, ScanFrame
from streams.console.server import GRACEFUL_SHUTDOWN_S
from streams.frame_store import FrameStore
from tests.kafka_kit import StreamTopics
from tests.streams.console.helpers import staged
from tests.streams.console.processes import LEAKGUARD, ConsoleProcess

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "night-shift-2026"
CODEC = Codec()

LOW_CONTRAST_JS = """() => {
  const rgba = (css) => (css.match(/[\\d.]+/g) || []).map(Number);
  const channel = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const backdrop = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const colour = rgba(getComputedStyle(n).backgroundColor);
      if (colour.length === 3 || (colour.length === 4 && colour[3] > 0)) return colour;
    }
    return [255, 255, 255];
  };
  const failures = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode.parentElement;
    const text = walker.currentNode.textContent.trim();
    if (!text || !node || node.closest("svg") || !node.getClientRects().length) continue;
    if (node.closest("button:disabled")) continue;  // WCAG exempts inactive controls
    const style = getComputedStyle(node);
    const pair = [luminance(rgba(style.color)), luminance(backdrop(node))];
    const [hi, lo] = pair.sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) failures.push(`${text.slice(0, 40)}: ${ratio.toFixed(2)}`);
  }
  return failures;
}"""
#: What the page shows after a round trip through Kafka (a verdict sent, an alarm shown)
#: takes longer than Playwright's 5 s default on a loaded two-core machine.
EXPECT_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/install.sh --dev)"
        )
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--headless"]
        )
        yield browser
        browser.close()


@pytest.fixture
def console_url(
    stream_topics: StreamTopics, frame_store: FrameStore, tmp_path: Path
) -> Iterator[str]:
    """A console for checkpoint ``hq`` lane 1 on the session broker, with guard ``ana``,
    reading images from the tests' frame store."""
    env = {
        "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": stream_topics.bootstrap,
        "LEAKGUARD_DATA_DIR": str(tmp_path / "data"),
    }
    added = subprocess.run(
        [LEAKGUARD, "console", "add-guard", "ana", "--password", PASSWORD],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    console = ConsoleProcess(
        "--checkpoint", "hq", "--lane", "1", "--port", "0", "--no-sink",
        "--topic-prefix", stream_topics.prefix, "--frame-store", frame_store.url, env=env,
    )  # fmt: skip
    try:
        yield console.wait_ready(timeout_s=180)
    finally:
        started = time.monotonic()
        status = console.stop()
    assert status == 0, f"console did not stop cleanly ({status}):\n{console.output()}"
    # The page's live stream is still open: stopping must not wait for it.
    assert time.monotonic() - started < GRACEFUL_SHUTDOWN_S


def sign_in(page: Page, url: str) -> None:
    """Sign ``ana`` in at lane 1 through the form, as a guard does."""
    page.goto(url + "/")
    expect(page).to_have_url(url + "/login")
    page.fill("input[name=guard]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.select_option("select[name=lane]", "1")
    page.click("button[type=submit]")
    expect(page.locator("#guard-id")).to_have_text("ana")


@pytest.fixture
def frame_store(tmp_path: Path) -> FrameStore:
    """The frame store the edge of these tests stages its images in."""
    return FrameStore(str(tmp_path / "frames"))


def produce(topics: StreamTopics, store: FrameStore, *events: tuple[ScanFrame, Detection]) -> None:
    """Each detection to Kafka as the edge sends it: keyed by frame id, linked to its frame's
    image staged in ``store`` (the console reads the image from there)."""
    kafka = topics.producer()
    for frame, detection in events:
        linked = staged(store, frame, detection)
        kafka.produce(
            topics.names.detections, key=frame.frame_id.encode(), value=CODEC.encode(linked)
        )
    kafka.flush(10)


def wait_for_alarm(page: Page, frame_id: str) -> None:
    """Until the banner names ``frame_id`` and its image has loaded."""
    expect(page.locator("#alarm-banner")).to_have_attribute(
        "data-frame-id", frame_id, timeout=60_000
    )
    expect(page.locator("#frame-image")).to_have_js_property("complete", True)
