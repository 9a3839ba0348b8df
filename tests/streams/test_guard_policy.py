"""The simulated guard: correct answers, seeded mistakes and misses, human-like delays."""

from __future__ import annotations

import pytest

from streams.exceptions import StreamsConfigError
from streams.logic.guard_policy import GuardPolicy
from tests.streams.helpers import detection, labeled, obj

TRUTH = (labeled((0, 0, 10, 10), "phone"), labeled((50, 50, 60, 60), "sdcard"))


def test_perfect_guard_confirms_rejects_and_reports_misses() -> None:
    det = detection(obj("o0", (0, 0, 10, 10)), obj("o1", (80, 80, 90, 90)))
    answer = GuardPolicy(median_delay_s=1.0).answer(det, (*TRUTH, labeled((1, 1, 2, 2), "others")))
    v = answer.verdict
    assert v.decision == "confirmed"
    assert v.rejected_object_ids == ("o1",)
    assert [m.class_name for m in v.missed_items] == ["sdcard"]
    assert v.detection_event_id == det.event_id
    assert 0.2 < answer.delay_s < 5.0


def test_clean_frame_is_cleared() -> None:
    det = detection(obj("o1", (80, 80, 90, 90)))
    assert GuardPolicy().answer(det, ()).verdict.decision == "cleared"


def test_rates_are_seeded_and_roughly_respected() -> None:
    policy = GuardPolicy(miss_rate=0.3, mistake_rate=0.2, seed=5)
    misses = mistakes = 0
    for i in range(400):
        det = detection(obj("o0", (0, 0, 10, 10)), frame_id=f"f{i}")
        v = policy.answer(det, TRUTH).verdict
        assert policy.answer(det, TRUTH).verdict.missed_items == v.missed_items
        misses += not v.missed_items
        mistakes += bool(v.rejected_object_ids)
    assert 80 < misses < 160
    assert 50 < mistakes < 115


def test_bad_rates_fail_at_start() -> None:
    with pytest.raises(StreamsConfigError, match="miss_rate"):
        GuardPolicy(miss_rate=1.5)


def test_guard_desk_answers_after_the_delay_with_the_frames_truth() -> None:
    from schemas.events import ScanFrame
    from schemas.images import png_payload
    from streams.guards import GuardDesk
    from tests.streams.helpers import png

    desk = GuardDesk(policies=[GuardPolicy(median_delay_s=1.0)], max_frames=2)
    det = detection(obj("o0", (80, 80, 90, 90)))
    frame = ScanFrame(
        checkpoint=det.checkpoint,
        lane=det.lane,
        frame_id=det.frame_id,
        scanner_id="s",
        view_id="top",
        image=png_payload(png(8, 8)),
        ground_truth=TRUTH,
    )
    desk.on_frame(frame)
    desk.on_detection(det, now=100.0)
    assert desk.due(now=100.0) == []
    (answer,) = desk.due(now=110.0)
    assert answer.rejected_object_ids == ("o0",)
    assert len(answer.missed_items) == 2


def test_guards_take_lanes_in_turn_and_find_projected_media_by_their_miss_rate() -> None:
    """Two guards: lanes are staffed in turn; a projected medium the detector did not alarm
    on is found by the careful guard and overlooked by the one who misses everything."""
    import dataclasses
    import uuid

    from schemas.events import Box, TipProjection
    from streams.guards import GuardDesk

    careful = GuardPolicy(guard_id="careful", median_delay_s=0.0)
    tired = GuardPolicy(guard_id="tired", miss_rate=1.0, median_delay_s=0.0)
    desk = GuardDesk(policies=[careful, tired])
    assert desk.guard_at("cp", "1") is careful
    assert desk.guard_at("cp", "2") is tired
    assert desk.guard_at("cp", "1") is careful
    tip = TipProjection(
        projection_id=uuid.uuid4(), class_name="sdcard", subtype="sdcard",
        box=Box(x1=30, y1=30, x2=40, y2=38),
    )  # fmt: skip
    for lane in ("1", "2"):
        base = detection(frame_id=f"f{lane}")
        det = dataclasses.replace(base, lane=lane, tip=tip, alarmed=True)
        desk.on_detection(det, now=0.0)
    answers = {v.guard_id: v for v in desk.due(now=1.0)}
    assert [m.box for m in answers["careful"].missed_items] == [tip.box]
    assert answers["careful"].decision == "confirmed"
    assert answers["tired"].missed_items == ()
    assert answers["tired"].decision == "cleared"


def test_a_guard_desk_needs_distinct_guards() -> None:
    from streams.guards import GuardDesk

    with pytest.raises(StreamsConfigError, match="at least one"):
        GuardDesk(policies=[])
    with pytest.raises(StreamsConfigError, match="must differ"):
        GuardDesk(policies=[GuardPolicy(), GuardPolicy()])
