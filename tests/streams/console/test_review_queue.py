"""The review queue: detected frames with their images, persisted, answered once, the
answer's verdict in the outbox until Kafka has it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from schemas.events import Detection, GuardVerdict
from streams.console.exceptions import FrameNotFoundError, VerdictError
from streams.console.review_queue import ReviewQueue
from tests.streams.console.helpers import detected, detection, png, two_alarms


def test_a_detection_enters_with_its_image_or_the_reason_it_has_none(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    first = two_alarms("a")
    queue.add_detection(first, image=png(0))
    queue.add_detection(two_alarms("b"), image=None, image_error="image gone")
    pending = queue.pending(["1"])
    assert [item.frame_id for item in pending] == ["a", "b"]
    assert all(item.alarmed for item in pending)
    assert [(item.has_image, item.image_error) for item in pending] == [
        (True, None),
        (False, "image gone"),
    ]
    assert queue.image(pending[0].id) == png(0)
    assert pending[0].detection == first
    with pytest.raises(FrameNotFoundError, match="no image"):
        queue.image(pending[1].id)


def test_only_alarmed_unanswered_frames_of_the_lane_wait(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    queue.add_detection(two_alarms("alarm"), image=png())
    queue.add_detection(
        detection("quiet", detected("o1", (1, 1, 9, 9), alarmed=False)), image=png()
    )
    queue.add_detection(two_alarms("other-lane", lane="2"), image=png())
    assert [item.frame_id for item in queue.pending(["1"])] == ["alarm"]
    assert [item.frame_id for item in queue.pending(["1", "2"])] == ["alarm", "other-lane"]
    live = queue.latest("1")
    assert live is not None
    assert live.frame_id == "quiet"
    assert not live.alarmed


def test_the_queue_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    first = ReviewQueue(path)
    first.add_detection(two_alarms("a"), image=png())
    first.save_offsets({("detections", 3): 17})
    first.close()
    again = ReviewQueue(path)
    assert [item.frame_id for item in again.pending(["1"])] == ["a"]
    assert again.offsets() == {("detections", 3): 17}


def test_frames_an_older_console_stored_without_a_detection_wait_for_it(tmp_path: Path) -> None:
    """A console that read scanner.frames stored a frame before its detection came; that
    detection is still ahead of the stored offset and must be able to add the frame."""
    path = tmp_path / "q.sqlite"
    older = sqlite3.connect(path)
    older.executescript(
        "CREATE TABLE frames (id INTEGER PRIMARY KEY, checkpoint TEXT NOT NULL, lane TEXT NOT "
        "NULL, frame_id TEXT NOT NULL, received_ms INTEGER NOT NULL, image BLOB, image_error "
        "TEXT, detection BLOB, alarmed INTEGER, reviewed_by TEXT, verdict_id TEXT, reviewed_ms "
        "INTEGER, UNIQUE (checkpoint, lane, frame_id));"
        "INSERT INTO frames (checkpoint, lane, frame_id, received_ms, image) "
        "VALUES ('hq', '1', 'a', 1, x'00');"
    )
    older.close()
    queue = ReviewQueue(path)
    assert queue.latest("1") is None
    queue.add_detection(two_alarms("a"), image=png())
    (item,) = queue.pending(["1"])
    assert queue.image(item.id) == png()


def test_a_replayed_detection_changes_nothing(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    original = two_alarms("a")
    queue.add_detection(original, image=png(0))
    queue.add_detection(two_alarms("a"), image=png(1))  # same frame, new event id
    (item,) = queue.pending(["1"])
    assert item.detection.event_id == original.event_id
    assert queue.image(item.id) == png(0)


def _verdict(frame_id: str, guard: str, detection_event: Detection) -> GuardVerdict:
    return GuardVerdict(
        checkpoint="hq", lane="1", frame_id=frame_id, model_version="m", guard_id=guard,
        detection_event_id=detection_event.event_id, decision="confirmed",
    )  # fmt: skip


def test_a_frame_is_answered_once_and_its_verdict_waits_in_the_outbox(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    detection_event = two_alarms("a")
    queue.add_detection(detection_event, image=png())
    (item,) = queue.pending(["1"])
    verdict = _verdict("a", "ana", detection_event)
    queue.answer(item.id, verdict, leased_until_ms=0)
    assert queue.pending(["1"]) == []
    assert queue.item(item.id).reviewed_by == "ana"
    with pytest.raises(VerdictError, match="already answered by ana"):
        queue.answer(item.id, _verdict("a", "ben", detection_event), leased_until_ms=0)
    assert queue.outbox() == [verdict]
    queue.delivered(verdict)
    assert queue.outbox() == []


def test_a_leased_verdict_is_not_handed_out_again_until_the_lease_ends(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    detection_event = two_alarms("a")
    queue.add_detection(detection_event, image=png())
    (item,) = queue.pending(["1"])
    verdict = _verdict("a", "ana", detection_event)
    queue.answer(item.id, verdict, leased_until_ms=2_000)
    assert queue.lease_next(now_ms=1_999, leased_until_ms=9_000) is None
    assert queue.lease_next(now_ms=2_000, leased_until_ms=9_000) == verdict
    assert queue.lease_next(now_ms=2_001, leased_until_ms=9_000) is None
    queue.unlease(verdict)
    assert queue.lease_next(now_ms=2_002, leased_until_ms=9_000) == verdict


def test_a_frame_not_in_the_queue_cannot_be_answered(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    detection_event = two_alarms("a")
    queue.add_detection(detection_event, image=png())
    item = queue.latest("1")
    assert item is not None
    with pytest.raises(FrameNotFoundError):
        queue.answer(item.id + 100, _verdict("a", "ana", detection_event), leased_until_ms=0)
    assert queue.outbox() == []


def test_pruning_keeps_pending_alarms_and_the_most_recent_frames(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite", keep_per_lane=2)
    queue.add_detection(two_alarms("old-alarm"), image=png())
    for index in range(5):
        quiet = detection(f"quiet-{index}", detected("o", (1, 1, 9, 9), alarmed=False))
        queue.add_detection(quiet, image=png())
    assert queue.prune() == 3
    assert [item.frame_id for item in queue.pending(["1"])] == ["old-alarm"]
    live = queue.latest("1")
    assert live is not None
    assert live.frame_id == "quiet-4"
    with pytest.raises(FrameNotFoundError):
        queue.item(2)  # quiet-0 is gone
