"""A TIP frame's answer without Kafka (#20): hit, miss and unreviewed, and the join
resolving a TIP frame to a TipResult and never to outcomes."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from schemas import Codec
from schemas.events import Box, DetectedObject, Detection, TipProjection
from streams.exceptions import StreamsError
from streams.join import on_event, on_tick
from streams.logic.tip import detector_alarmed, tip_found, tip_result
from tests.streams.helpers import detection, labeled, obj, verdict

CODEC = Codec()
TIP = TipProjection(
    projection_id=uuid.uuid4(),
    class_name="usb",
    subtype="usb_stick",
    box=Box(x1=40, y1=40, x2=60, y2=60),
)


def _tip(*objects: DetectedObject) -> Detection:
    return dataclasses.replace(detection(*objects), tip=TIP, alarmed=True)


def test_an_alarm_left_standing_on_the_projection_is_a_hit() -> None:
    det = _tip(obj("o0", (41, 39, 61, 59)), obj("o1", (0, 0, 10, 10)))
    assert detector_alarmed(det)
    assert tip_found(det, verdict(det, rejected=("o1",)))
    assert not tip_found(det, verdict(det, rejected=("o0",)))  # the guard rejected it
    assert not tip_found(det, verdict(det, decision="cleared", rejected=("o0", "o1")))


def test_a_missed_item_drawn_on_the_projection_is_a_hit_whatever_its_class() -> None:
    det = _tip(obj("o1", (0, 0, 10, 10)))
    assert not detector_alarmed(det)
    loose = labeled((34, 34, 66, 66), class_name="phone")  # hand-drawn, other class: IoU 0.39
    assert tip_found(det, verdict(det, rejected=("o1",), missed=(loose,)))
    elsewhere = labeled((80, 80, 100, 100))
    assert not tip_found(det, verdict(det, rejected=("o1",), missed=(elsewhere,)))
    assert not tip_found(det, verdict(det))  # confirmed the other alarm only


def test_results_carry_the_guard_and_response_time() -> None:
    det = _tip(obj("o0", (40, 40, 60, 60)))
    ver = dataclasses.replace(verdict(det, after_s=4.0), response_ms=1500)
    hit = tip_result(det, ver, event_time=ver.event_time)
    assert (hit.result, hit.guard_id, hit.response_ms) == ("hit", "g7", 1500)
    assert hit.event_id == hit.projection_id == TIP.projection_id
    simulated = tip_result(det, verdict(det, after_s=4.0), event_time=ver.event_time)
    assert simulated.response_ms == 4000  # no console measure: detection to verdict
    unreviewed = tip_result(det, None, event_time=ver.event_time)
    assert (unreviewed.result, unreviewed.guard_id, unreviewed.response_ms) == (
        "unreviewed",
        None,
        None,
    )


def test_a_real_frame_has_no_tip_result() -> None:
    with pytest.raises(StreamsError, match="no projection"):
        tip_found(detection(), verdict(detection()))


def test_the_join_resolves_tip_frames_to_tip_results_only() -> None:
    det = _tip(obj("o0", (40, 40, 60, 60)), obj("o1", (0, 0, 10, 10)))
    ver = verdict(det, rejected=("o1",), missed=(labeled((90, 90, 99, 99)),))
    for first, second in ((det, ver), (ver, det)):
        step = on_event(None, first, CODEC.encode(first), now=1.0, codec=CODEC)
        step = on_event(step.state, second, CODEC.encode(second), now=2.0, codec=CODEC)
        assert step.resolution is not None
        assert step.resolution.outcomes == []
        assert step.resolution.tip is not None
        assert step.resolution.tip.result == "hit"
    stored = on_event(None, det, CODEC.encode(det), now=0.0, codec=CODEC).state
    assert stored is not None
    expired = on_tick(
        stored, now=100.0, unreviewed_after_s=60.0, resolved_retention_s=1000.0, codec=CODEC
    )
    assert expired.resolution is not None
    assert expired.resolution.outcomes == []
    assert expired.resolution.tip is not None
    assert expired.resolution.tip.result == "unreviewed"
