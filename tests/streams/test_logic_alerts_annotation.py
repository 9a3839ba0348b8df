"""Alerts for confirmed media and annotation tasks for mistakes, built from outcomes."""

from __future__ import annotations

from schemas.authenticity import Seal
from schemas.events import ImageLink
from streams.logic.alerts import build_alert
from streams.logic.annotation import build_annotation_tasks, needs_image
from streams.logic.outcomes import match_outcomes, unreviewed_outcomes
from tests.streams.helpers import detection, labeled, now_ms, obj, verdict

LINK = ImageLink(uri="file:///store/kept/cp/1/f.png", sha256="ab" * 32)


def test_alert_lists_true_positive_media_only() -> None:
    det = detection(obj("o0", (0, 0, 10, 10)), obj("o1", (20, 20, 30, 30)))
    ver = verdict(det, rejected=("o1",))
    alert = build_alert(det, ver, match_outcomes(det, ver))
    assert alert is not None
    assert [item.object_id for item in alert.items] == ["o0"]
    assert (alert.checkpoint, alert.lane, alert.frame_id, alert.guard_id) == (
        "cp",
        "1",
        det.frame_id,
        "g7",
    )
    assert alert.event_time == ver.event_time
    assert build_alert(det, ver, match_outcomes(det, ver)) == alert  # stable ids
    cleared = verdict(det, decision="cleared")
    assert build_alert(det, cleared, match_outcomes(det, cleared)) is None


def test_keyed_alert_ids_are_stable_and_unguessable_without_the_key() -> None:
    """With the cloud's key the id is stable for replays but differs from the public UUIDv5
    and from any other key's, so no one can name a coming alert's id."""
    det = detection(obj("o0", (0, 0, 10, 10)))
    ver = verdict(det)
    outcomes = match_outcomes(det, ver)
    ours, theirs = Seal(b"k" * 32, "alert-id"), Seal(b"x" * 32, "alert-id")
    keyed = build_alert(det, ver, outcomes, ids=ours)
    public = build_alert(det, ver, outcomes)
    forged = build_alert(det, ver, outcomes, ids=theirs)
    assert keyed is not None
    assert public is not None
    assert forged is not None
    assert keyed.alert_id == keyed.event_id
    assert keyed == build_alert(det, ver, outcomes, ids=ours)
    assert len({keyed.alert_id, public.alert_id, forged.alert_id}) == 3
    assert keyed.alert_id.version == 4


def test_tasks_for_false_positives_and_negatives() -> None:
    det = detection(obj("o0", (0, 0, 10, 10), class_name="hdd"), obj("o1", (20, 20, 30, 30)))
    ver = verdict(det, rejected=("o0",), missed=(labeled((50, 50, 60, 60), "sdcard"),))
    outcomes = match_outcomes(det, ver)
    assert needs_image(outcomes)
    fp, fn = build_annotation_tasks(det, ver, outcomes, image=LINK)
    assert fp.reason == "fp"
    assert fn.reason == "fn"
    # Each task: its own corrections, then the alarm the guard confirmed (o1, a phone).
    assert [(p.class_name, p.subtype, p.source, p.box.x1) for p in fp.pre_annotations] == [
        ("others", "fp:hdd", "detector", 0),
        ("phone", None, "detector", 20),
    ]
    assert [(p.class_name, p.box.x1, p.source, p.source_id) for p in fn.pre_annotations] == [
        ("sdcard", 50, "guard", "g7"),
        ("phone", 20, "detector", "m1"),
    ]
    assert fp.image == LINK
    assert fp.task_id != fn.task_id
    assert build_annotation_tasks(det, ver, outcomes, image=LINK)[0].task_id == fp.task_id


def test_all_correct_frames_need_the_image_but_no_task() -> None:
    det = detection(obj("o0", (0, 0, 10, 10)))
    ver = verdict(det)
    outcomes = match_outcomes(det, ver)
    assert needs_image(outcomes)
    assert build_annotation_tasks(det, ver, outcomes, image=LINK) == []
    assert not needs_image(unreviewed_outcomes(det, event_time=now_ms()))


def test_a_reclassified_alarm_makes_an_fp_task_with_the_guards_class() -> None:
    det = detection(obj("o0", (0, 0, 10, 10), class_name="laptop"), obj("o1", (20, 20, 30, 30)))
    ver = verdict(det, corrected=(("o0", "tablet"),))
    (task,) = build_annotation_tasks(det, ver, match_outcomes(det, ver), image=LINK)
    assert task.reason == "fp"
    assert [(p.class_name, p.subtype, p.source, p.source_id) for p in task.pre_annotations] == [
        ("tablet", None, "guard", "g7"),
        ("phone", None, "detector", "m1"),
    ]


def test_every_task_of_a_frame_carries_the_corrected_class() -> None:
    det = detection(
        obj("o0", (0, 0, 10, 10), class_name="laptop"),
        obj("o1", (20, 20, 30, 30)),
        obj("o2", (40, 40, 50, 50), class_name="hdd"),
    )
    ver = verdict(
        det,
        rejected=("o2",),
        missed=(labeled((60, 60, 70, 70), "sdcard"),),
        corrected=(("o0", "tablet"),),
    )
    outcomes = match_outcomes(det, ver)
    fp, fn = build_annotation_tasks(det, ver, outcomes, image=LINK)
    assert [(p.class_name, p.source) for p in fp.pre_annotations] == [
        ("others", "detector"),
        ("tablet", "guard"),
        ("phone", "detector"),
    ]
    assert [(p.class_name, p.source) for p in fn.pre_annotations] == [
        ("sdcard", "guard"),
        ("tablet", "guard"),
        ("phone", "detector"),
    ]
    # The control centre hears of the alarm as before: the guard confirmed media.
    alert = build_alert(det, ver, outcomes)
    assert alert is not None
    assert [item.object_id for item in alert.items] == ["o0", "o1"]
