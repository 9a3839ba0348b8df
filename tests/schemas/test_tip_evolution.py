"""Release v7 adds threat image projection (#20): ``Detection.tip`` (null by default) and
the ``TipResult`` event. v6 detections decode with ``tip`` null, and a v6 consumer reads a
v7 detection without it, so edges and consoles upgrade in any order."""

from __future__ import annotations

import dataclasses
import uuid

from schemas import Codec, Detection, TipProjection, TipResult
from schemas.convert import to_record
from schemas.events import Box, DetectedObject
from schemas.store import SchemaStore, default_store
from schemas.topics import Topics

TIP = TipProjection(
    projection_id=uuid.uuid4(),
    class_name="usb_pen",
    subtype="usb_pen",
    box=Box(x1=10, y1=12, x2=40, y2=20),
)


def _v6() -> Codec:
    store = default_store()
    release = [schema for schema in store.released if schema.version == "v6"]
    return Codec(store=SchemaStore(release, store.released))


def _detection() -> Detection:
    return Detection(
        checkpoint="hq",
        lane="1",
        frame_id="f1",
        model_version="m1",
        inference_latency_ms=3.0,
        image_width=64,
        image_height=64,
        objects=(
            DetectedObject(
                object_id="o0", class_name="usb", score=0.9, box=Box(x1=1, y1=2, x2=3, y2=4),
                alarmed=True,
            ),
        ),
        alarmed=True,
        tip=TIP,
    )  # fmt: skip


def test_v6_and_v7_detections_read_each_other() -> None:
    detection = _detection()
    assert Codec().decode(Codec().encode(detection), Detection).tip == TIP
    without = dataclasses.replace(detection, tip=None)
    old_data = _v6().encode_record("Detection", to_record(without))
    assert Codec().decode(old_data, Detection) == without
    read_by_v6 = _v6().decode_record(Codec().encode(detection), "Detection")
    assert "tip" not in read_by_v6
    assert read_by_v6["frame_id"] == "f1"


def test_tip_results_round_trip_on_their_own_topic() -> None:
    result = TipResult(
        event_id=TIP.projection_id,
        checkpoint="hq",
        lane="1",
        frame_id="f1",
        projection_id=TIP.projection_id,
        model_version="m1",
        class_name="usb_pen",
        box=TIP.box,
        result="hit",
        detector_alarmed=False,
        guard_id="ana",
        detection_event_id=uuid.uuid4(),
        verdict_event_id=uuid.uuid4(),
        response_ms=2300,
    )
    assert Codec().decode(Codec().encode(result), TipResult) == result
    assert Topics().carrying("TipResult") == "tip.results"
