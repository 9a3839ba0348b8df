"""The demo's live summary: distinct events counted in either topic order."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from PIL import Image

from infra.demo.summary import DemoTally
from schemas.events import (
    Alert,
    Annotation,
    AnnotationTask,
    Box,
    DetectedObject,
    Detection,
    ImageLink,
    Outcome,
    OutcomeKindName,
    ScanFrame,
)
from schemas.events import outcome_id as make_outcome_id
from schemas.images import png_payload


def _frame(frame_id: str, lane: str = "1") -> ScanFrame:
    return ScanFrame(
        checkpoint="gate-1",
        lane=lane,
        frame_id=frame_id,
        scanner_id="sim",
        view_id="top",
        image=png_payload(_PNG),
    )


def _detection(frame: ScanFrame, *, alarmed: bool, after_s: float) -> Detection:
    obj = DetectedObject(
        object_id="o1",
        class_name="phone",
        score=0.9,
        box=Box(x1=1, y1=1, x2=5, y2=5),
        alarmed=alarmed,
    )
    return Detection(
        event_time=frame.event_time + timedelta(seconds=after_s),
        checkpoint=frame.checkpoint,
        lane=frame.lane,
        frame_id=frame.frame_id,
        model_version="m1",
        inference_latency_ms=3.0,
        image_width=8,
        image_height=8,
        objects=(obj,),
        alarmed=alarmed,
    )


def _outcome(detection: Detection, kind: OutcomeKindName) -> Outcome:
    oid = make_outcome_id(
        checkpoint=detection.checkpoint,
        lane=detection.lane,
        frame_id=detection.frame_id,
        object_id="o1",
        kind=kind,
    )
    return Outcome(
        event_id=oid,
        checkpoint=detection.checkpoint,
        lane=detection.lane,
        frame_id=detection.frame_id,
        outcome_id=oid,
        model_version="m1",
        object_id="o1",
        kind=kind,
        class_name="phone",
        box=Box(x1=1, y1=1, x2=5, y2=5),
        detection_event_id=detection.event_id,
    )


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="PNG")
    return buffer.getvalue()


_PNG = _png()


def test_tally_counts_lanes_latency_in_either_topic_order() -> None:
    tally = DemoTally()
    first, second, other_lane = _frame("f1"), _frame("f2"), _frame("f3", lane="2")
    detected_first = _detection(first, alarmed=True, after_s=1.0)
    tally.add(first)
    tally.add(detected_first)
    # The detection of f2 is read before its frame (different topics): still one latency.
    tally.add(_detection(second, alarmed=False, after_s=3.0))
    tally.add(second)
    tally.add(other_lane)

    summary = tally.summary()
    lanes = {(lane.checkpoint, lane.lane): lane for lane in summary.lanes}
    assert (lanes[("gate-1", "1")].frames, lanes[("gate-1", "1")].detected) == (2, 2)
    assert lanes[("gate-1", "1")].alarms == 1
    assert (lanes[("gate-1", "2")].frames, lanes[("gate-1", "2")].detected) == (1, 0)
    assert sorted(tally.latencies_s) == [1.0, 3.0]
    assert summary.latency_p50_s == pytest.approx(2.0)
    assert summary.awaiting_review == 1  # f1 alarmed, no outcome yet
    assert summary.to_dict()["frames"] == 3


def test_tally_counts_replays_once_and_resolves_review() -> None:
    tally = DemoTally()
    frame = _frame("f1")
    detection = _detection(frame, alarmed=True, after_s=0.5)
    tp = _outcome(detection, "tp")
    alert = Alert(
        checkpoint="gate-1",
        lane="1",
        frame_id="f1",
        alert_id=make_outcome_id(
            checkpoint="gate-1", lane="1", frame_id="f1", object_id="a", kind="tp"
        ),
        model_version="m1",
        items=detection.objects,
    )
    for event in (frame, frame, detection, _detection(frame, alarmed=True, after_s=9.0)):
        tally.add(event)
    for result in (tp, tp, _outcome(detection, "fn"), alert, alert):
        tally.add(result)

    summary = tally.summary()
    assert summary.detected == 1
    assert tally.latencies_s == [0.5]  # the replayed detection does not count
    assert summary.outcomes == {"tp": 1, "fp": 0, "fn": 1, "unreviewed": 0}
    assert summary.alerts == 1
    assert summary.awaiting_review == 0


def test_tally_counts_tasks_and_annotations_once() -> None:
    tally = DemoTally()
    link = ImageLink(uri="file:///f1.png", sha256="0" * 64)
    task = AnnotationTask(
        checkpoint="gate-1",
        lane="1",
        frame_id="f1",
        task_id=uuid.uuid4(),
        model_version="m1",
        image=link,
        pre_annotations=(),
        reason="fp",
    )
    annotation = Annotation(
        checkpoint="gate-1",
        lane="1",
        frame_id="f1",
        annotation_id=uuid.uuid4(),
        task_id=task.task_id,
        image=link,
        objects=(),
        annotator="leakguard-auto-label/1",
        source="auto_label",
    )
    for event in (task, task, annotation, annotation):
        tally.add(event)
    summary = tally.summary()
    assert (summary.tasks, summary.annotations) == (1, 1)


def test_empty_tally_has_no_latency() -> None:
    summary = DemoTally().summary()
    assert (summary.latency_p50_s, summary.latency_p95_s) == (None, None)
    assert summary.frames == 0
