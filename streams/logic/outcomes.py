"""The outcome join's decision: one detection and its guard verdict in, one ``Outcome`` per
object out.

The rules, from the guard's point of view:

* an alarmed object the guard rejected (``rejected_object_ids``), or every alarmed object
  when the guard cleared the frame, is a false positive (``fp``);
* any other alarmed object of a confirmed frame is a true positive (``tp``); its class is
  the guard's when the verdict corrects it (``class_corrections``: the alarm was right, its
  class wrong), else the detector's. A correction of a rejected or non-alarmed object, or
  to a class that is no storage medium, is ignored: a rejection is said with
  ``rejected_object_ids``, and the console never sends one;
* each item the guard marked as missed is a false negative (``fn``, object id
  ``missed-<n>``); when a sub-threshold detection overlaps it (IoU at or above
  ``min_iou``) the outcome carries that detection's score, so analytics can tell "seen but
  below threshold" from "not seen at all";
* with no verdict in time, every alarmed object is ``unreviewed``.

On a multi-view frame (#20) the rules count items, not objects: the alarmed objects of one
item (``DetectedObject.item_id``, matched across views by the edge) give one outcome, for
the item's representative (its best alarmed object of the primary view, else its best
alarmed object), which is ``fp`` when the guard rejected any of the item's objects and
takes a correction of any of them. Missed items are drawn on the primary view, so only
its sub-threshold detections can match one.

Non-alarmed detections that no missed item matches are not outcomes: nobody saw them.
An outcome's ``class_name`` is therefore what the review says the object is; the detector's
own class stays in the ``Detection`` (``detections`` in the analytics).
Outcome ids come from :func:`schemas.outcome_id` and the event id equals the outcome id,
so replaying the same two events yields byte-identical outcomes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from leakguard.classes import CLASS_IDS, is_storage_medium
from schemas.events import (
    Box,
    DetectedObject,
    Detection,
    GuardVerdict,
    ObjectClassName,
    Outcome,
    OutcomeKindName,
    outcome_id,
)
from schemas.geometry import DEFAULT_MIN_IOU, iou
from streams.logic.views import item_groups

__all__ = [
    "alarmed_items",
    "join_key",
    "match_outcomes",
    "review_time_ms",
    "unreviewed_outcomes",
]

#: Prefix of a false negative's object id; the index in ``missed_items`` follows.
MISSED_PREFIX: Final[str] = "missed-"


def join_key(*, checkpoint: str, lane: str, frame_id: str) -> str:
    """The key of one frame in the join tables: frame ids are unique only per lane."""
    return f"{checkpoint}\x1f{lane}\x1f{frame_id}"


def review_time_ms(detection: Detection, verdict: GuardVerdict) -> int:
    """Milliseconds from the detection to the guard's verdict (0 if clocks disagree)."""
    return max(0, int((verdict.event_time - detection.event_time).total_seconds() * 1000))


def _outcome(
    detection: Detection,
    *,
    object_id: str,
    kind: OutcomeKindName,
    obj: DetectedObject | None,
    box: Box,
    class_name: ObjectClassName,
    score: float | None,
    verdict: GuardVerdict | None,
    event_time: datetime,
) -> Outcome:
    oid = outcome_id(
        checkpoint=detection.checkpoint,
        lane=detection.lane,
        frame_id=detection.frame_id,
        object_id=object_id,
        kind=kind,
    )
    return Outcome(
        event_id=oid,
        event_time=event_time,
        checkpoint=detection.checkpoint,
        lane=detection.lane,
        frame_id=detection.frame_id,
        outcome_id=oid,
        model_version=detection.model_version,
        object_id=object_id,
        kind=kind,
        class_name=class_name,
        score=score if obj is None else obj.score,
        box=box,
        guard_id=None if verdict is None else verdict.guard_id,
        detection_event_id=detection.event_id,
        verdict_event_id=None if verdict is None else verdict.event_id,
        review_time_ms=None if verdict is None else review_time_ms(detection, verdict),
    )


def _corrected_classes(verdict: GuardVerdict) -> dict[str, ObjectClassName]:
    """The guard's class per object id, from the verdict's storage-media corrections."""
    return {
        c.object_id: c.class_name
        for c in verdict.class_corrections
        if is_storage_medium(CLASS_IDS[c.class_name])
    }


def _best_match(box: Box, candidates: list[DetectedObject], min_iou: float) -> int | None:
    """Index of the candidate overlapping ``box`` most, if any reaches ``min_iou``."""
    best, best_iou = None, min_iou
    for index, candidate in enumerate(candidates):
        overlap = iou(box, candidate.box)
        if overlap >= best_iou:
            best, best_iou = index, overlap
    return best


def alarmed_items(detection: Detection) -> list[tuple[DetectedObject, list[DetectedObject]]]:
    """Each alarmed item of the frame as ``(representative, its alarmed objects)``, in the
    order the representatives were detected; on a single-view frame every alarmed object is
    an item of its own."""
    items = []
    for group in item_groups(detection.objects).values():
        alarmed = [obj for obj in group if obj.alarmed]
        if alarmed:
            rep = max(alarmed, key=lambda obj: (obj.view_id is None, obj.score))
            items.append((rep, alarmed))
    order = {obj.object_id: index for index, obj in enumerate(detection.objects)}
    return sorted(items, key=lambda item: order[item[0].object_id])


def match_outcomes(
    detection: Detection, verdict: GuardVerdict, *, min_iou: float = DEFAULT_MIN_IOU
) -> list[Outcome]:
    """The outcomes of one reviewed frame: alarmed objects first (detector order), then the
    missed items in verdict order. Each sub-threshold detection matches at most one miss."""
    rejected = set(verdict.rejected_object_ids)
    cleared = verdict.decision == "cleared"
    corrected = _corrected_classes(verdict)
    outcomes: list[Outcome] = []
    for obj, members in alarmed_items(detection):
        ids = [obj.object_id, *(member.object_id for member in members)]
        kind: OutcomeKindName = "fp" if cleared or not rejected.isdisjoint(ids) else "tp"
        # A rejected alarm keeps the detector's class: it says what was wrongly alarmed on.
        guard_class = next((corrected[i] for i in ids if i in corrected), obj.class_name)
        class_name = guard_class if kind == "tp" else obj.class_name
        outcomes.append(
            _outcome(
                detection,
                object_id=obj.object_id,
                kind=kind,
                obj=obj,
                box=obj.box,
                class_name=class_name,
                score=None,
                verdict=verdict,
                event_time=verdict.event_time,
            )
        )
    candidates = [obj for obj in detection.objects if not obj.alarmed and obj.view_id is None]
    for index, item in enumerate(verdict.missed_items):
        match = _best_match(item.box, candidates, min_iou)
        score = None if match is None else candidates.pop(match).score
        outcomes.append(
            _outcome(
                detection,
                object_id=f"{MISSED_PREFIX}{index}",
                kind="fn",
                obj=None,
                box=item.box,
                class_name=item.class_name,
                score=score,
                verdict=verdict,
                event_time=verdict.event_time,
            )
        )
    return outcomes


def unreviewed_outcomes(detection: Detection, *, event_time: datetime) -> list[Outcome]:
    """One ``unreviewed`` outcome per alarmed item of a frame no guard answered in time."""
    return [
        _outcome(
            detection,
            object_id=obj.object_id,
            kind="unreviewed",
            obj=obj,
            box=obj.box,
            class_name=obj.class_name,
            score=None,
            verdict=None,
            event_time=event_time,
        )
        for obj, _ in alarmed_items(detection)
    ]
