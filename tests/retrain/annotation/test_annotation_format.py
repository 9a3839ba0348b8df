"""Label Studio JSON both ways, the labelling config and auto-labels: pure logic."""

from __future__ import annotations

import dataclasses
import uuid
import xml.etree.ElementTree as ET

import pytest

from leakguard.classes import CLASS_NAMES
from retrain.annotation.auto_label import (
    AUTO_LABELLER,
    REVIEWED_OBJECTS,
    AutoLabelPolicy,
    auto_annotation,
)
from retrain.annotation.exceptions import UnusableAnnotationError
from retrain.annotation.label_config import SUBTYPES, label_config
from retrain.annotation.ls_format import (
    TASK_KEY,
    annotation_event,
    boxes_from_result,
    prediction_result,
    task_payload,
)
from schemas import Codec
from schemas.events import Annotation, ImageLink, LabeledBox, PreAnnotation
from tests.retrain.annotation.annotation_helpers import box, fn_task, fp_task

IMAGE = ImageLink(uri="/frames/kept/hq-north/1/f1.abc.png", sha256="a" * 64)


def test_label_config_has_the_nine_classes_in_id_order_and_the_worker_subtypes() -> None:
    root = ET.fromstring(label_config())
    labels = [label.get("value") for label in root.iter("Label")]
    assert labels == [CLASS_NAMES[i] for i in sorted(CLASS_NAMES)]
    choices = [choice.get("value") for choice in root.iter("Choice")]
    assert choices == list(SUBTYPES)
    # Every subtype the cloud worker pre-fills for a rejected detection can be picked.
    assert {f"fp:{CLASS_NAMES[i]}" for i in range(1, 9)} <= set(choices)
    assert root.find("Choices").get("perRegion") == "true"  # type: ignore[union-attr]


def test_predictions_come_back_as_the_same_boxes_classes_and_subtypes() -> None:
    task = fp_task(IMAGE, frame_id="f1")
    result = prediction_result(task.pre_annotations, width=160, height=120)
    boxes = boxes_from_result(result, width=1, height=1)  # sizes come from the items
    assert [(b.class_name, b.subtype) for b in boxes] == [
        ("others", "fp:hdd"),
        ("others", "fp:phone"),
    ]
    for got, pre in zip(boxes, task.pre_annotations, strict=True):
        assert got.box.x1 == pytest.approx(pre.box.x1)
        assert got.box.y1 == pytest.approx(pre.box.y1)
        assert got.box.x2 == pytest.approx(pre.box.x2)
        assert got.box.y2 == pytest.approx(pre.box.y2)


def test_prediction_percentages_and_clamping() -> None:
    task = fn_task(IMAGE, frame_id="f1")
    [item] = prediction_result(task.pre_annotations, width=200, height=100)
    assert item["value"]["x"] == pytest.approx(2.5)
    assert item["value"]["width"] == pytest.approx(10.0)
    assert item["value"]["height"] == pytest.approx(10.0)
    outside = PreAnnotation(
        class_name="usb", box=box(-10, -5, 250, 50), source="guard", source_id="g7"
    )
    [clamped] = prediction_result([outside], width=200, height=100)
    assert clamped["value"]["x"] == 0.0
    assert clamped["value"]["width"] == pytest.approx(100.0)


def test_rotated_rectangle_becomes_its_bounding_box() -> None:
    item = {
        "id": "r1",
        "type": "rectanglelabels",
        "from_name": "label",
        "original_width": 100,
        "original_height": 100,
        "value": {
            "x": 50,
            "y": 10,
            "width": 20,
            "height": 10,
            "rotation": 90,
            "rectanglelabels": ["ssd"],
        },
    }
    [got] = boxes_from_result([item], width=100, height=100)
    # Rotated 90 degrees about its top-left corner: it now extends left and down.
    assert (got.box.x1, got.box.y1, got.box.x2, got.box.y2) == pytest.approx((40, 10, 50, 30))


def test_unknown_label_is_refused() -> None:
    item = {
        "id": "r",
        "type": "rectanglelabels",
        "from_name": "label",
        "value": {"x": 1, "y": 1, "width": 1, "height": 1, "rectanglelabels": ["toaster"]},
    }
    with pytest.raises(UnusableAnnotationError, match="toaster"):
        boxes_from_result([item], width=10, height=10)


def _ls_annotation(updated_at: str = "2026-11-21T19:47:29.713047Z") -> dict[str, object]:
    task = fp_task(IMAGE, frame_id="f1")
    return {
        "id": 17,
        "task": 5,
        "project": 3,
        "completed_by": 1,
        "lead_time": 12.5,
        "created_at": "2026-11-21T19:47:00Z",
        "updated_at": updated_at,
        "result": prediction_result(task.pre_annotations[:1], width=160, height=120),
    }


def test_annotation_event_carries_the_task_provenance_and_survives_the_codec() -> None:
    task = fp_task(IMAGE, frame_id="f1")
    data = task_payload(task, image_url="http://bridge/images/x", width=160, height=120)["data"]
    event = annotation_event(
        _ls_annotation(),
        data,
        label_studio_url="http://ls:8080/",
        project_id=3,
        annotator="a@b",
        tool_version="label-studio 1.23.2",
    )
    assert event.task_id == task.task_id
    assert (event.checkpoint, event.lane, event.frame_id) == ("hq-north", "1", "f1")
    assert event.image == IMAGE
    assert event.source == "label_studio"
    assert event.annotator == "a@b"
    assert event.objects[0].class_name == "others"
    assert event.event_time.microsecond == 713000
    assert event.provenance["label_studio_task"] == "5"
    assert event.provenance["label_studio_url"] == "http://ls:8080"
    assert event.provenance["lead_time_s"] == "12.500"
    assert Codec().decode(Codec().encode(event), Annotation) == event


def test_annotation_ids_are_stable_per_version_and_new_per_update() -> None:
    task = fp_task(IMAGE, frame_id="f1")
    data = task_payload(task, image_url="u", width=160, height=120)["data"]
    kwargs = {
        "label_studio_url": "http://ls",
        "project_id": 3,
        "annotator": "a",
        "tool_version": "t",
    }
    first = annotation_event(_ls_annotation(), data, **kwargs)  # type: ignore[arg-type]
    again = annotation_event(_ls_annotation(), data, **kwargs)  # type: ignore[arg-type]
    updated = annotation_event(_ls_annotation("2026-11-21T20:00:00Z"), data, **kwargs)  # type: ignore[arg-type]
    assert first.annotation_id == again.annotation_id == first.event_id
    assert updated.annotation_id != first.annotation_id


def test_annotation_of_a_task_leakguard_did_not_create_is_refused() -> None:
    with pytest.raises(UnusableAnnotationError, match=TASK_KEY):
        annotation_event(
            _ls_annotation(),
            {"image": "x"},
            label_studio_url="u",
            project_id=1,
            annotator="a",
            tool_version="t",
        )


def test_task_payload_without_pre_annotations_has_no_prediction() -> None:
    task = fn_task(IMAGE, frame_id="f1")
    empty = dataclasses.replace(task, pre_annotations=())
    payload = task_payload(empty, image_url="u", width=10, height=10)
    assert "predictions" not in payload
    assert payload["data"][TASK_KEY] == str(task.task_id)


def test_auto_annotation_relabels_corrections_and_is_replay_stable() -> None:
    task = fp_task(IMAGE, frame_id="f1")
    event = auto_annotation(task)
    assert event.source == "auto_label"
    assert event.annotator == AUTO_LABELLER
    assert event.objects == tuple(
        LabeledBox(class_name=p.class_name, subtype=p.subtype, box=p.box)
        for p in task.pre_annotations
    )
    assert event.provenance["coverage"] == REVIEWED_OBJECTS
    assert event.provenance["suggested_by"] == "detector:m7"
    assert auto_annotation(task).annotation_id == event.annotation_id
    other = fp_task(IMAGE, frame_id="f1")
    assert auto_annotation(other).annotation_id != event.annotation_id
    assert isinstance(event.annotation_id, uuid.UUID)


def test_auto_label_policy() -> None:
    policy = AutoLabelPolicy.of(["hq-north", " ", "lab-2 "])
    assert policy.applies("hq-north")
    assert policy.applies("lab-2")
    assert not policy.applies("hq-south")
    assert not policy.covers_all
    assert AutoLabelPolicy.of(["*"]).applies("anywhere")
    assert not AutoLabelPolicy.of([]).applies("hq-north")
