"""Release v6 adds the scanner's identifiers (``ScanReference``) to ``ScanFrame`` and
``Detection``: v5 data decodes with ``scan`` null, and a v5 consumer reads v6 events
without it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from schemas import Codec, Detection, ScanFrame, ScanReference
from schemas.convert import to_record
from schemas.events import Box, DetectedObject
from schemas.images import png_payload
from schemas.store import SchemaStore, default_store
from tests.streams.helpers import png

SCAN = ScanReference(
    study_instance_uid="1.2.3",
    series_instance_uid="1.2.3.4",
    sop_instance_uid="1.2.3.4.5",
    sop_class_uid="1.2.840.10008.5.1.4.1.1.501.2.2",
    device_serial_number="SN-7",
    acquired_at=datetime(2026, 12, 6, 15, 0, 0, 123000, tzinfo=UTC),
)


def _v5() -> Codec:
    store = default_store()
    release = [schema for schema in store.released if schema.version == "v5"]
    return Codec(store=SchemaStore(release, store.released))


def test_v5_and_v6_frames_read_each_other() -> None:
    frame = ScanFrame(
        checkpoint="hq",
        lane="1",
        frame_id="hq/1/1.2.3.4.5",
        scanner_id="SN-7",
        view_id="top",
        image=png_payload(png(16, 16)),
        scan=SCAN,
    )
    assert Codec().decode(Codec().encode(frame), ScanFrame).scan == SCAN
    old_data = _v5().encode_record("ScanFrame", to_record(dataclasses.replace(frame, scan=None)))
    assert Codec().decode(old_data, ScanFrame) == dataclasses.replace(frame, scan=None)
    read_by_v5 = _v5().decode_record(Codec().encode(frame), "ScanFrame")
    assert "scan" not in read_by_v5
    assert read_by_v5["frame_id"] == frame.frame_id


def test_v5_and_v6_detections_read_each_other() -> None:
    detection = Detection(
        checkpoint="hq",
        lane="1",
        frame_id="hq/1/1.2.3.4.5",
        model_version="m1",
        inference_latency_ms=3.0,
        image_width=16,
        image_height=16,
        objects=(
            DetectedObject(
                object_id="o0",
                class_name="usb",
                score=0.9,
                box=Box(x1=1, y1=2, x2=3, y2=4),
                alarmed=True,
            ),
        ),
        alarmed=True,
        scan=SCAN,
    )
    assert Codec().decode(Codec().encode(detection), Detection).scan == SCAN
    without = dataclasses.replace(detection, scan=None)
    assert (
        Codec().decode(_v5().encode_record("Detection", to_record(without)), Detection) == without
    )
    assert "scan" not in _v5().decode_record(Codec().encode(detection), "Detection")
