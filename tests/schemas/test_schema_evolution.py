"""Schemas evolve compatibly. Released versions stay in ``schemas/history/``; the
current schemas and every release read each other's data (the ``avro`` library's checker);
a field added with a default keeps old data readable, removing one without a default fails."""

from __future__ import annotations

import dataclasses
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from schemas import (
    ClassCorrection,
    Codec,
    DeadLetter,
    Detection,
    GuardVerdict,
    IncompatibleSchemaError,
    LabeledBox,
)
from schemas.compat import check_compatible, find_incompatibilities
from schemas.convert import to_record
from schemas.events import Box, DetectedObject, ImageLink, now_ms
from schemas.store import AVSC_DIR, EVENT_NAMES, HISTORY_DIR, SchemaStore, default_store


def test_current_schemas_are_compatible_with_every_release() -> None:
    assert default_store().versions(), "at least one release is in schemas/history/"
    check_compatible(mode="full")


def test_every_current_schema_is_released() -> None:
    """A changed schema must be released (history/<new version>) before it ships."""
    store = default_store()
    released = {(s.name, s.fingerprint) for s in store.released}
    for name in EVENT_NAMES:
        assert (name, store.current(name).fingerprint) in released, (
            f"{name} changed since the last release: add schemas/history/<version>/ "
            "with schemas.store.write_release (docs/events.md)"
        )


def test_every_release_holds_every_event() -> None:
    """A release keeps every event of the release before it (events are never dropped) and
    the newest holds every current one; an event appears from its first release on (v7:
    TipResult)."""
    held: list[str] = []
    for version in default_store().versions():
        files = sorted(p.stem for p in (HISTORY_DIR / version).glob("*.avsc"))
        assert set(held) <= set(files), version
        held = files
    assert held == sorted(EVENT_NAMES)


def _release_codec(version: str) -> Codec:
    """A codec whose current schemas are release ``version``: a consumer not yet upgraded."""
    store = default_store()
    release = [schema for schema in store.released if schema.version == version]
    return Codec(store=SchemaStore(release, store.released))


def test_v1_and_v2_guard_verdicts_read_each_other() -> None:
    """v2 adds the response time and class corrections: v1 verdicts still decode (with the
    defaults), and a v1 consumer reads a v2 verdict without the new fields."""
    v1 = _release_codec("v1")
    verdict = GuardVerdict(
        checkpoint="hq",
        lane="1",
        frame_id="f1",
        model_version="m1",
        detection_event_id=uuid.uuid4(),
        guard_id="ana",
        decision="confirmed",
        rejected_object_ids=("o2",),
        missed_items=(LabeledBox(class_name="usb", box=Box(x1=1, y1=2, x2=30, y2=40)),),
        response_ms=2140,
        class_corrections=(ClassCorrection(object_id="o1", class_name="tablet"),),
    )
    old_data = v1.encode_record("GuardVerdict", to_record(verdict))
    assert Codec().decode(old_data, GuardVerdict) == dataclasses.replace(
        verdict, response_ms=None, class_corrections=()
    )
    read_by_v1 = v1.decode_record(Codec().encode(verdict), "GuardVerdict")
    assert "response_ms" not in read_by_v1
    assert "class_corrections" not in read_by_v1
    assert read_by_v1["rejected_object_ids"] == ["o2"]
    assert read_by_v1["missed_items"][0]["class_name"] == "usb"


def test_v2_and_v3_detections_read_each_other() -> None:
    """v3 adds the staged image's link: a v2 detection decodes with no link, and a v2
    consumer reads a v3 detection without it."""
    v2 = _release_codec("v2")
    detection = Detection(
        checkpoint="hq",
        lane="1",
        frame_id="f1",
        model_version="m1",
        inference_latency_ms=12.5,
        image_width=640,
        image_height=480,
        objects=(
            DetectedObject(
                object_id="o0",
                class_name="usb",
                score=0.9,
                box=Box(x1=1, y1=2, x2=30, y2=40),
                alarmed=True,
            ),
        ),
        alarmed=True,
        image=ImageLink(uri="file:///store/staging/hq/1/f1/ab.png", sha256="ab" * 32),
    )
    old_data = v2.encode_record("Detection", to_record(detection))
    assert Codec().decode(old_data, Detection) == dataclasses.replace(detection, image=None)
    read_by_v2 = v2.decode_record(Codec().encode(detection), "Detection")
    assert "image" not in read_by_v2
    assert read_by_v2["objects"][0]["class_name"] == "usb"


def _letter() -> DeadLetter:
    return DeadLetter(
        event_time=now_ms(),
        source_topic="detections",
        partition=3,
        offset=42,
        error_class="schemas.exceptions.DecodeError",
        reason="bad",
        original=b"\x00\x01",
        worker_id="w1",
    )


def _edited_store(tmp_path: Path, name: str, edit: Any) -> SchemaStore:
    """A store whose current ``name`` schema is edited, with the real history."""
    avsc = tmp_path / "avsc"
    shutil.copytree(AVSC_DIR, avsc)
    path = avsc / f"{name}.avsc"
    schema = json.loads(path.read_text())
    edit(schema["fields"])
    path.write_text(json.dumps(schema))
    return SchemaStore.load(avsc_dir=avsc, history_dir=HISTORY_DIR)


def test_added_field_with_default_keeps_old_data_readable(tmp_path: Path) -> None:
    def add_field(fields: list[dict[str, Any]]) -> None:
        fields.append({"name": "retries", "type": "int", "default": 0, "doc": "Delivery attempts."})

    new_store = _edited_store(tmp_path, "DeadLetter", add_field)
    assert find_incompatibilities(new_store) == []
    old_data = Codec().encode(_letter())  # written with the released v1 schema
    record = Codec(store=new_store).decode_record(old_data, "DeadLetter")
    assert record["retries"] == 0
    assert {k: v for k, v in record.items() if k != "retries"} == to_record(
        Codec().decode(old_data, DeadLetter)
    )


def test_removed_field_without_default_is_incompatible(tmp_path: Path) -> None:
    def remove_worker_id(fields: list[dict[str, Any]]) -> None:
        fields[:] = [f for f in fields if f["name"] != "worker_id"]

    new_store = _edited_store(tmp_path, "DeadLetter", remove_worker_id)
    with pytest.raises(IncompatibleSchemaError, match="worker_id") as caught:
        check_compatible(new_store)
    assert "DeadLetter (v1) cannot read DeadLetter (current) data" in str(caught.value)


def test_added_field_without_default_is_incompatible(tmp_path: Path) -> None:
    def add_required(fields: list[dict[str, Any]]) -> None:
        fields.append({"name": "site", "type": "string", "doc": "Site."})

    new_store = _edited_store(tmp_path, "DeadLetter", add_required)
    problems = find_incompatibilities(new_store, mode="backward")
    assert [(p.reader, p.writer) for p in problems] == [
        ("DeadLetter (current)", f"DeadLetter ({version})") for version in new_store.versions()
    ]
    assert "site" in str(problems[0])


def test_removed_enum_symbol_is_incompatible(tmp_path: Path) -> None:
    avsc = tmp_path / "avsc"
    shutil.copytree(AVSC_DIR, avsc)
    path = avsc / "ObjectClass.avsc"
    schema = json.loads(path.read_text())
    schema["symbols"].remove("tablet")
    path.write_text(json.dumps(schema))
    store = SchemaStore.load(avsc_dir=avsc, history_dir=HISTORY_DIR)
    with pytest.raises(IncompatibleSchemaError, match="tablet"):
        check_compatible(store, mode="backward")


def test_defaults_filled_in_by_resolution_are_not_shared(tmp_path: Path) -> None:
    """The codec hands decoded records over to the events it builds (schemas.convert), so a
    default the reader schema supplies must be a copy, never the parsed schema's own object."""

    def add_nested_default(fields: list[dict[str, Any]]) -> None:
        fields.append(
            {
                "name": "route",
                "type": {
                    "type": "record",
                    "name": "Route",
                    "fields": [{"name": "hops", "type": {"type": "array", "items": "string"}}],
                },
                "default": {"hops": ["edge"]},
                "doc": "Where the letter went.",
            }
        )

    codec = Codec(store=_edited_store(tmp_path, "DeadLetter", add_nested_default))
    old_data = Codec().encode(_letter())
    first = codec.decode_record(old_data, "DeadLetter")
    first["route"]["hops"].append("changed")
    second = codec.decode_record(old_data, "DeadLetter")
    assert second["route"] == {"hops": ["edge"]}
