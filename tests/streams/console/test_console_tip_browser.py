"""Acceptance (#20): a guard in Chromium answers a threat image projection frame, then the
page says it was a test. The frame comes out of the edge's own detect step with TIP at rate
1.0 (the projected image staged in the frame store), goes through the real broker to the
real console, and nothing the page reads before the answer reveals the projection."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from detector.engine import DetectedObject as EngineObject
from schemas import GuardVerdict
from schemas.events import Detection
from streams.detect import FrameDetector
from streams.frame_store import FrameStore
from streams.tip import TipProjector, TipRates
from tests.kafka_kit import StreamTopics, decoded, read_topic
from tests.streams.console.browser import (
    CODEC,
    browser,
    console_url,
    frame_store,
    sign_in,
    wait_for_alarm,
)

__all__ = ["browser", "console_url", "frame_store"]  # fixtures, imported to be used here

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIZE = 480
#: The stand-in detector's one alarm: a phone on clutter, far from any projection.
CLUTTER_BOX = (4.0, 4.0, 40.0, 30.0)


class _Engine:
    """The detector at the model edge: one false alarm per image, never the projection."""

    model_version = "retinanet-test"

    def predict(self, images: Sequence[np.ndarray]) -> list[list[EngineObject]]:
        return [[EngineObject(3, "phone", 0.8, CLUTTER_BOX, True)] for _ in images]


def _tip_detection(store: FrameStore) -> Detection:
    """A simulated bag through the edge's detect step with TIP at rate 1.0 on hq/1."""
    from detector.sim.stream import ScannerStream
    from streams.sources import frame_from_simulated

    stream = ScannerStream(checkpoint_id="hq", lane_id="1", seed=5, width_px=SIZE, height_px=SIZE)
    frame = frame_from_simulated(stream.frame(2))
    detector = FrameDetector(
        engine=_Engine(), store=store, tip=TipProjector(rates=TipRates.parse(["hq/1=1.0"]))
    )
    (detection,) = detector.run_batch([frame])
    assert isinstance(detection, Detection)
    return detection


def _draw(page: Page, box: tuple[float, float, float, float]) -> None:
    """Drag a box given in image pixels on the overlay."""
    area = page.locator("#overlay").bounding_box()
    assert area is not None
    scale_x, scale_y = area["width"] / SIZE, area["height"] / SIZE
    page.mouse.move(area["x"] + box[0] * scale_x, area["y"] + box[1] * scale_y)
    page.mouse.down()
    page.mouse.move(area["x"] + box[2] * scale_x, area["y"] + box[3] * scale_y, steps=5)
    page.mouse.up()


def test_a_guard_answers_a_tip_frame_then_sees_it_was_a_test(
    browser: Browser, console_url: str, stream_topics: StreamTopics, frame_store: FrameStore
) -> None:
    detection = _tip_detection(frame_store)
    tip = detection.tip
    assert tip is not None
    kafka = stream_topics.producer()
    kafka.produce(
        stream_topics.names.detections,
        key=detection.frame_id.encode(),
        value=CODEC.encode(detection),
    )
    kafka.flush(10)
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    sign_in(page, console_url)
    wait_for_alarm(page, detection.frame_id)

    # Before the answer it is an alarm like any other: nothing on the page or in what it
    # reads tells the guard it is a test.
    expect(page.locator("#alarm-banner")).to_contain_text("phone 80%")
    expect(page.locator("#tip-result")).to_be_hidden()
    queue = page.request.get(console_url + "/api/queue").text()
    assert str(tip.projection_id) not in queue
    assert '"tip"' not in queue
    assert "TIP" not in page.content()

    page.click("button[data-object-id=o0]")  # the phone alarm is clutter: clear it
    page.keyboard.press("m")
    drawn = (tip.box.x1 - 4, tip.box.y1 - 4, tip.box.x2 + 4, tip.box.y2 + 4)
    _draw(page, drawn)
    page.select_option("#missed-class", tip.class_name)
    page.click("#missed-add")
    page.keyboard.press("Enter")

    notice = page.locator("#tip-result")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("That was a test image (TIP)")
    expect(notice).to_contain_text(f"you found the projected {tip.class_name}")
    messages = read_topic(
        stream_topics.bootstrap, stream_topics.names.verdicts, until=lambda m: len(m) >= 1,
        timeout_s=30,
    )  # fmt: skip
    (verdict,) = decoded(messages, GuardVerdict)
    assert verdict.decision == "confirmed"
    assert verdict.rejected_object_ids == ("o0",)
    assert len(verdict.missed_items) == 1
