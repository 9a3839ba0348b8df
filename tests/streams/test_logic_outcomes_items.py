"""The outcome join on multi-view frames (#20): one outcome per item, not per view. An
item's objects in other views add no TP or FP; a guard rejecting or reclassifying any of
an item's objects answers for the item; only primary-view detections match a miss; the
annotation task keeps boxes of the primary view, whose image it refers to."""

from __future__ import annotations

import dataclasses

from schemas.events import DetectedObject, ImageLink, now_ms
from streams.logic.annotation import build_annotation_tasks
from streams.logic.outcomes import match_outcomes, unreviewed_outcomes
from tests.streams.helpers import detection, labeled, obj, verdict


def _in(view: str | None, item: str, o: DetectedObject) -> DetectedObject:
    return dataclasses.replace(o, view_id=view, item_id=item)


def _dual() -> list[DetectedObject]:
    """A phone seen in both views (o0 top, o2 side), a usb seen only from the side (o3), a
    sub-threshold side detection (o4) and a top-view one (o1)."""
    return [
        _in(None, "o0", obj("o0", (10, 10, 40, 40), score=0.8)),
        _in(None, "o1", obj("o1", (60, 60, 70, 70), alarmed=False, score=0.2)),
        _in("side", "o0", obj("o2", (12, 80, 41, 100), score=0.95)),
        _in("side", "o3", obj("o3", (90, 80, 120, 100), class_name="usb", score=0.7)),
        _in("side", "o4", obj("o4", (60, 60, 70, 70), alarmed=False, score=0.3)),
    ]


def test_one_outcome_per_item_for_the_primary_view_object_first() -> None:
    det = detection(*_dual())
    outcomes = match_outcomes(det, verdict(det))
    assert [(o.object_id, o.kind, o.class_name) for o in outcomes] == [
        ("o0", "tp", "phone"),  # not o2, although it scored higher: the kept image is the top
        ("o3", "tp", "usb"),
    ]
    later = now_ms()
    assert [o.object_id for o in unreviewed_outcomes(det, event_time=later)] == ["o0", "o3"]


def test_rejecting_or_correcting_one_view_answers_for_the_item() -> None:
    det = detection(*_dual())
    ver = verdict(det, rejected=("o2",), corrected=(("o3", "sdcard"),))
    assert [(o.object_id, o.kind, o.class_name) for o in match_outcomes(det, ver)] == [
        ("o0", "fp", "phone"),
        ("o3", "tp", "sdcard"),
    ]


def test_a_miss_matches_a_sub_threshold_detection_of_the_primary_view_only() -> None:
    det = detection(*_dual())
    ver = verdict(det, missed=(labeled((60, 60, 70, 70)),))
    (miss,) = [o for o in match_outcomes(det, ver) if o.kind == "fn"]
    assert miss.score == 0.2  # o1 (top), not o4 (side) with the higher score


def test_annotation_tasks_keep_the_primary_views_boxes() -> None:
    det = detection(*_dual())
    ver = verdict(det, decision="cleared")
    image = ImageLink(uri="file:///kept.png", sha256="0" * 64)
    (task,) = build_annotation_tasks(det, ver, match_outcomes(det, ver), image=image)
    assert [(p.class_name, p.box.x1) for p in task.pre_annotations] == [("others", 10)]


def test_a_single_view_frame_counts_every_alarmed_object() -> None:
    det = detection(obj("o0", (0, 0, 10, 10)), obj("o1", (0, 0, 10, 10)))
    assert [o.object_id for o in match_outcomes(det, verdict(det))] == ["o0", "o1"]
