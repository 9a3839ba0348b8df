"""Acceptance: a guard in Chromium against the real console and the real broker.

Sign in; an alarm appears for a frame produced to Kafka; the guard clears one object and
draws a missed item; the ``GuardVerdict`` read back from Kafka carries exactly those
corrections and the guard's id; a request without a session is refused. A dual-view frame
shows both views, an item's boxes share number and colour, and rejecting the item rejects
its objects in both views.
"""

from __future__ import annotations

import dataclasses

import pytest
from playwright.sync_api import Browser, Page, expect

from schemas import GuardVerdict
from schemas.events import Detection, DetectionView, ScanFrame
from streams.frame_store import FrameStore
from tests.kafka_kit import StreamTopics, decoded, read_topic
from tests.streams.console.browser import (
    CODEC,
    browser,
    console_url,
    frame_store,
    produce,
    sign_in,
    wait_for_alarm,
)
from tests.streams.console.helpers import detected

__all__ = [
    "browser",
    "console_url",
    "frame_store",
]  # fixtures, imported to be used here

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _scene() -> tuple[ScanFrame, Detection]:
    """A simulated frame (an SSD and an SD card) and a detection that finds the SSD, raises
    a false phone alarm on clutter and misses the SD card."""
    from detector.sim.stream import ScannerStream
    from streams.sources import frame_from_simulated

    stream = ScannerStream(checkpoint_id="hq", lane_id="1", seed=3, width_px=480, height_px=480)
    frame = frame_from_simulated(stream.frame(1))
    ssd = next(g.box for g in frame.ground_truth or () if g.class_name == "ssd")
    detection = Detection(
        checkpoint="hq",
        lane="1",
        frame_id=frame.frame_id,
        model_version="retinanet-test",
        inference_latency_ms=42.0,
        image_width=480,
        image_height=480,
        objects=(
            detected("o1", (ssd.x1, ssd.y1, ssd.x2, ssd.y2), class_name="ssd", score=0.94),
            detected("o2", (60, 60, 150, 120), class_name="phone", score=0.62),
            detected("o3", (100, 330, 170, 400), class_name="others", score=0.21, alarmed=False),
        ),
        alarmed=True,
    )
    return frame, detection


def _draw(page: Page, box: tuple[float, float, float, float], size: int) -> None:
    """Drag a box given in image pixels on the overlay."""
    area = page.locator("#overlay").bounding_box()
    assert area is not None
    scale_x, scale_y = area["width"] / size, area["height"] / size
    page.mouse.move(area["x"] + box[0] * scale_x, area["y"] + box[1] * scale_y)
    page.mouse.down()
    page.mouse.move(area["x"] + box[2] * scale_x, area["y"] + box[3] * scale_y, steps=5)
    page.mouse.up()


def test_a_guard_clears_one_object_and_marks_a_missed_item(
    browser: Browser,
    console_url: str,
    stream_topics: StreamTopics,
    frame_store: FrameStore,
) -> None:
    refused = browser.new_context().request.get(console_url + "/api/queue")
    assert refused.status == 401
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    sign_in(page, console_url)

    frame, detection = _scene()
    produce(stream_topics, frame_store, (frame, detection))
    wait_for_alarm(page, frame.frame_id)
    banner = page.locator("#alarm-banner")
    expect(banner).to_contain_text("ssd 94%")

    page.click("button[data-object-id=o2]")
    page.keyboard.press("1")  # keyboard: clear object 1 ...
    expect(page.locator("#objects li.cleared")).to_have_count(2)
    page.keyboard.press("1")  # ... and restore it
    expect(page.locator("#objects li.cleared")).to_have_count(1)
    page.keyboard.press("m")
    sdcard = next(g.box for g in frame.ground_truth or () if g.class_name == "sdcard")
    drawn = (sdcard.x1 - 3, sdcard.y1 - 3, sdcard.x2 + 3, sdcard.y2 + 3)
    _draw(page, drawn, 480)
    page.select_option("#missed-class", "sdcard")
    page.click("#missed-add")
    expect(page.locator("#missed li")).to_have_count(1)

    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("verdict confirmed sent")

    messages = read_topic(
        stream_topics.bootstrap, stream_topics.names.verdicts, until=lambda m: len(m) >= 1,
        timeout_s=30,
    )  # fmt: skip
    verdicts = decoded(messages, GuardVerdict)
    assert [v.frame_id for v in verdicts] == [frame.frame_id]
    (verdict,) = verdicts
    assert verdict.guard_id == "ana"
    assert verdict.detection_event_id == detection.event_id
    assert verdict.decision == "confirmed"
    assert verdict.rejected_object_ids == ("o2",)
    (missed,) = verdict.missed_items
    assert missed.class_name == "sdcard"
    got = (missed.box.x1, missed.box.y1, missed.box.x2, missed.box.y2)
    assert got == pytest.approx(drawn, abs=2.0)

    page.reload()
    expect(page.locator("#queue-count")).to_have_text("0")
    expect(banner).to_be_hidden()


def _dual_view_scene() -> tuple[ScanFrame, Detection]:
    """A simulated dual-view frame (#20) and a detection that finds its SSD in both views
    (one item) and raises a phone alarm in the top view only."""
    from detector.sim.stream import ScannerStream
    from streams.sources import frame_from_simulated

    stream = ScannerStream(
        checkpoint_id="hq", lane_id="1", seed=3, width_px=480, height_px=480,
        views=("top", "side"),
    )  # fmt: skip
    simulated = stream.frame(1)
    frame = frame_from_simulated(simulated)
    top, side = simulated.image.objects[0], simulated.views[0].image.objects[0]
    assert top.class_name == side.class_name == "ssd"  # the same labelled object
    objects = (
        detected("o0", top.box_xyxy, class_name="ssd", score=0.9),
        detected("o1", (60, 60, 150, 120), class_name="phone", score=0.6),
        detected("o2", side.box_xyxy, class_name="ssd", score=0.7),
    )
    items = ("o0", "o1", "o0")
    views = (None, None, "side")
    return frame, Detection(
        checkpoint="hq", lane="1", frame_id=frame.frame_id, model_version="retinanet-test",
        inference_latency_ms=42.0, image_width=480, image_height=480,
        objects=tuple(
            dataclasses.replace(o, item_id=item, view_id=view)
            for o, item, view in zip(objects, items, views, strict=True)
        ),
        alarmed=True,
        views=(DetectionView(view_id="side", image_width=480, image_height=480),),
    )  # fmt: skip


def test_a_dual_view_frame_shows_both_views_and_an_item_answers_once(
    browser: Browser,
    console_url: str,
    stream_topics: StreamTopics,
    frame_store: FrameStore,
) -> None:
    """Both views on screen, the SSD's boxes in either view numbered as one item; the guard
    rejects that item with its key and the verdict rejects its objects in both views."""
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    sign_in(page, console_url)
    frame, detection = _dual_view_scene()
    produce(stream_topics, frame_store, (frame, detection))
    wait_for_alarm(page, frame.frame_id)
    side = page.locator("#views figure[data-view-id=side]")
    expect(side.locator("figcaption")).to_have_text("side view")
    expect(side.locator("img")).to_have_js_property("complete", True)
    assert side.locator("img").evaluate("img => img.naturalWidth") == 480
    expect(page.locator("#objects li")).to_have_count(2)  # items, not objects
    expect(page.locator("#overlay g.alarmed")).to_have_count(2)
    expect(side.locator("g.alarmed text")).to_have_text("⚠ 1 ssd 90%")
    top_colour = page.locator("#overlay g.alarmed").first.get_attribute("style")
    assert top_colour is not None
    assert side.locator("g.alarmed").get_attribute("style") == top_colour

    page.keyboard.press("1")
    expect(side.locator("g.cleared")).to_have_count(1)
    expect(page.locator("#overlay g.cleared")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("verdict confirmed sent")
    (message,) = read_topic(
        stream_topics.bootstrap, stream_topics.names.verdicts, until=lambda m: len(m) >= 1,
        timeout_s=30,
    )  # fmt: skip
    verdict = CODEC.decode(message.value(), GuardVerdict)
    assert verdict.rejected_object_ids == ("o0", "o2")
