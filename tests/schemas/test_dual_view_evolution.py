"""Release v8 adds dual-view frames (#20): ``ScanFrame.views``, ``Detection.views`` (empty
by default) and ``DetectedObject.view_id`` / ``item_id`` (null by default). v7 data decodes
with those defaults, and a v7 consumer reads a v8 frame or detection as its primary view
alone, so scanners, edges and consoles upgrade in any order."""

from __future__ import annotations

import dataclasses
import hashlib

from schemas import Codec, Detection, DetectionView, ScanFrame, ScanView
from schemas.convert import to_record
from schemas.events import Box, DetectedObject, ImageLink, ImagePayload
from schemas.store import SchemaStore, default_store

PNG = b"\x89PNG not really"


def _v7() -> Codec:
    store = default_store()
    release = [schema for schema in store.released if schema.version == "v7"]
    return Codec(store=SchemaStore(release, store.released))


def _payload() -> ImagePayload:
    return ImagePayload(
        encoding="png", width=64, height=48, size_bytes=len(PNG),
        sha256=hashlib.sha256(PNG).hexdigest(), inline=PNG,
    )  # fmt: skip


def _frame() -> ScanFrame:
    return ScanFrame(
        checkpoint="hq", lane="1", frame_id="f1", scanner_id="s1", view_id="top",
        image=_payload(), views=(ScanView(view_id="side", image=_payload()),),
    )  # fmt: skip


def _object(object_id: str, view_id: str | None) -> DetectedObject:
    return DetectedObject(
        object_id=object_id, class_name="usb", score=0.9, box=Box(x1=1, y1=2, x2=3, y2=4),
        alarmed=True, view_id=view_id, item_id="o0",
    )  # fmt: skip


def _detection() -> Detection:
    return Detection(
        checkpoint="hq", lane="1", frame_id="f1", model_version="m1",
        inference_latency_ms=3.0, image_width=64, image_height=48,
        objects=(_object("o0", None), _object("o1", "side")), alarmed=True,
        views=(
            DetectionView(
                view_id="side", image_width=64, image_height=48,
                image=ImageLink(uri="file:///x/side.png", sha256="0" * 64),
            ),
        ),
    )  # fmt: skip


def test_v8_frames_round_trip_and_v7_reads_the_primary_view() -> None:
    frame = _frame()
    assert Codec().decode(Codec().encode(frame), ScanFrame) == frame
    read_by_v7 = _v7().decode_record(Codec().encode(frame), "ScanFrame")
    assert "views" not in read_by_v7
    assert read_by_v7["view_id"] == "top"
    single = dataclasses.replace(frame, views=())
    old_data = _v7().encode_record("ScanFrame", to_record(single))
    assert Codec().decode(old_data, ScanFrame) == single


def test_v7_and_v8_detections_read_each_other() -> None:
    detection = _detection()
    assert Codec().decode(Codec().encode(detection), Detection) == detection
    read_by_v7 = _v7().decode_record(Codec().encode(detection), "Detection")
    assert "views" not in read_by_v7
    assert [set(obj) & {"view_id", "item_id"} for obj in read_by_v7["objects"]] == [set(), set()]
    plain = dataclasses.replace(
        detection,
        views=(),
        objects=tuple(
            dataclasses.replace(obj, view_id=None, item_id=None) for obj in detection.objects
        ),
    )
    old_data = _v7().encode_record("Detection", to_record(plain))
    assert Codec().decode(old_data, Detection) == plain
