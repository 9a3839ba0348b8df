"""A threat image projection frame's answer, without Kafka: did the guard find the medium?

The guard found the projection (a ``hit``) when the verdict stands behind something at its
place: the frame is confirmed and either an alarm overlapping the projected box was left
standing (not rejected) or the guard drew a missed item on it. The class does not matter:
the test is whether the guard looked, not whether they named the medium. Clearing the
frame, rejecting the alarm on it or drawing nothing there is a ``miss``; no verdict before
the review deadline is ``unreviewed``. The console (to tell the guard at once) and the
outcome join (the ``TipResult`` event) decide with the same function.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from schemas.events import Box, DetectedObject, Detection, GuardVerdict, TipProjection, TipResult
from schemas.geometry import iou
from streams.exceptions import StreamsError
from streams.logic.outcomes import review_time_ms

__all__ = ["TIP_MIN_IOU", "detector_alarmed", "tip_found", "tip_result"]

#: Overlap with the projected box that counts as "at its place": lower than the outcome
#: join's 0.5 because a guard's box is drawn by hand around a medium seen through clutter.
TIP_MIN_IOU: Final[float] = 0.3


def _projection(detection: Detection) -> TipProjection:
    if detection.tip is None:
        raise StreamsError(f"frame {detection.frame_id} carries no projection")
    return detection.tip


def _at(box: Box, tip: TipProjection) -> bool:
    return iou(box, tip.box) >= TIP_MIN_IOU


def _alarm_on(obj: DetectedObject, tip: TipProjection) -> bool:
    """An alarm on the projection: the medium is projected into the primary view only."""
    return obj.alarmed and obj.view_id is None and _at(obj.box, tip)


def detector_alarmed(detection: Detection) -> bool:
    """Whether the detector itself alarmed on the projected medium."""
    tip = _projection(detection)
    return any(_alarm_on(obj, tip) for obj in detection.objects)


def tip_found(detection: Detection, verdict: GuardVerdict) -> bool:
    """Whether ``verdict`` finds the medium projected into ``detection``'s frame."""
    tip = _projection(detection)
    if verdict.decision != "confirmed":
        return False
    rejected = set(verdict.rejected_object_ids)
    standing = any(
        _alarm_on(obj, tip) and obj.object_id not in rejected for obj in detection.objects
    )
    return standing or any(_at(item.box, tip) for item in verdict.missed_items)


def tip_result(
    detection: Detection, verdict: GuardVerdict | None, *, event_time: datetime
) -> TipResult:
    """The ``TipResult`` of a TIP frame: answered by ``verdict``, or unreviewed (None).

    Its id is the projection id, so a replayed join yields the same event. The response
    time is the console's on-screen measure when the verdict has one, else the time from
    the detection to the verdict (a simulated guard's).
    """
    tip = _projection(detection)
    response_ms = None
    if verdict is not None:
        measured = verdict.response_ms
        response_ms = measured if measured is not None else review_time_ms(detection, verdict)
    return TipResult(
        event_id=tip.projection_id,
        event_time=event_time if verdict is None else verdict.event_time,
        checkpoint=detection.checkpoint,
        lane=detection.lane,
        frame_id=detection.frame_id,
        projection_id=tip.projection_id,
        model_version=detection.model_version,
        class_name=tip.class_name,
        box=tip.box,
        result="unreviewed"
        if verdict is None
        else ("hit" if tip_found(detection, verdict) else "miss"),
        detector_alarmed=detector_alarmed(detection),
        guard_id=None if verdict is None else verdict.guard_id,
        detection_event_id=detection.event_id,
        verdict_event_id=None if verdict is None else verdict.event_id,
        response_ms=response_ms,
    )
