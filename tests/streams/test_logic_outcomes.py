"""The outcome matcher: TP / FP / FN / unreviewed per object, IoU matching, stable ids."""

from __future__ import annotations

from schemas import outcome_id
from schemas.events import now_ms
from schemas.geometry import iou
from streams.logic.outcomes import match_outcomes, unreviewed_outcomes
from tests.streams.helpers import detection, labeled, obj, verdict


def test_iou() -> None:
    a = obj("a", (0, 0, 10, 10)).box
    assert iou(a, a) == 1.0
    assert iou(a, obj("b", (5, 0, 15, 10)).box) == 50 / 150
    assert iou(a, obj("c", (20, 20, 30, 30)).box) == 0.0


def test_confirmed_rejected_and_missed_items() -> None:
    det = detection(
        obj("o0", (0, 0, 10, 10)),
        obj("o1", (20, 20, 40, 40)),
        obj("o2", (50, 50, 70, 70), alarmed=False, score=0.3, class_name="usb"),
        obj("o3", (90, 90, 99, 99), alarmed=False, score=0.2),
    )
    ver = verdict(
        det,
        rejected=("o1", "o3"),
        missed=(labeled((51, 51, 70, 70)), labeled((100, 0, 120, 20), "sdcard")),
    )
    outcomes = match_outcomes(det, ver)
    assert [(o.object_id, o.kind, o.score) for o in outcomes] == [
        ("o0", "tp", 0.9),
        ("o1", "fp", 0.9),
        ("missed-0", "fn", 0.3),  # matched to the sub-threshold o2
        ("missed-1", "fn", None),  # nothing near it
    ]
    fn = outcomes[2]
    assert fn.class_name == "usb"
    assert fn.box.x1 == 51
    assert all(o.guard_id == "g7" and o.verdict_event_id == ver.event_id for o in outcomes)
    assert all(o.review_time_ms == 3000 for o in outcomes)
    assert outcomes[0].outcome_id == outcome_id(
        checkpoint="cp", lane="1", frame_id=det.frame_id, object_id="o0", kind="tp"
    )
    assert all(o.event_id == o.outcome_id for o in outcomes)
    assert match_outcomes(det, ver) == outcomes  # a replay gives identical events


def test_cleared_frame_makes_every_alarm_a_false_positive() -> None:
    det = detection(obj("o0", (0, 0, 10, 10)), obj("o1", (20, 20, 40, 40)))
    kinds = [o.kind for o in match_outcomes(det, verdict(det, decision="cleared"))]
    assert kinds == ["fp", "fp"]


def test_one_sub_threshold_detection_matches_one_miss_only() -> None:
    det = detection(obj("s", (0, 0, 10, 10), alarmed=False, score=0.2))
    ver = verdict(det, missed=(labeled((0, 0, 10, 10)), labeled((0, 0, 10, 10))))
    assert [o.score for o in match_outcomes(det, ver)] == [0.2, None]


def test_unreviewed_covers_alarmed_objects_only() -> None:
    det = detection(obj("o0", (0, 0, 10, 10)), obj("o1", (1, 1, 5, 5), alarmed=False))
    when = now_ms()
    outcomes = unreviewed_outcomes(det, event_time=when)
    assert [(o.object_id, o.kind, o.guard_id) for o in outcomes] == [("o0", "unreviewed", None)]
    assert outcomes == unreviewed_outcomes(det, event_time=when)
    assert match_outcomes(detection(), verdict(detection(), decision="cleared")) == []


def test_a_reclassified_alarm_is_a_true_positive_of_the_guards_class() -> None:
    det = detection(
        obj("o0", (0, 0, 10, 10), class_name="laptop"),
        obj("o1", (20, 20, 40, 40)),
        obj("o2", (50, 50, 70, 70), alarmed=False, score=0.3),
    )
    plain = match_outcomes(det, verdict(det, rejected=("o1",)))
    corrected = match_outcomes(det, verdict(det, rejected=("o1",), corrected=(("o0", "tablet"),)))
    assert [(o.object_id, o.kind, o.class_name) for o in corrected] == [
        ("o0", "tp", "tablet"),
        ("o1", "fp", "phone"),
    ]
    # The same object and kind: the same outcome id, so a replay still deduplicates.
    assert [o.outcome_id for o in corrected] == [o.outcome_id for o in plain]


def test_corrections_of_no_confirmed_alarm_or_to_no_medium_are_ignored() -> None:
    det = detection(
        obj("o0", (0, 0, 10, 10), class_name="laptop"),
        obj("o1", (20, 20, 40, 40)),
        obj("o2", (50, 50, 70, 70), alarmed=False, score=0.3),
    )
    odd = (("o0", "others"), ("o1", "tablet"), ("o2", "tablet"))
    outcomes = match_outcomes(det, verdict(det, rejected=("o1",), corrected=odd))
    assert [(o.object_id, o.kind, o.class_name) for o in outcomes] == [
        ("o0", "tp", "laptop"),
        ("o1", "fp", "phone"),
    ]
    cleared = verdict(det, decision="cleared", corrected=(("o0", "tablet"),))
    assert [(o.kind, o.class_name) for o in match_outcomes(det, cleared)] == [
        ("fp", "laptop"),
        ("fp", "phone"),
    ]
