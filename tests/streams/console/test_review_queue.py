"""The review queue: frames and detections in either order, persisted, claimed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.events import GuardVerdict
from streams.console.exceptions import FrameNotFoundError, VerdictError
from streams.console.review_queue import ReviewQueue
from tests.streams.console.helpers import detected, detection, frame, png, two_alarms


def test_a_frame_and_its_detection_meet_in_either_order(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    queue.add_frame(frame("a"), image=png(0))
    first = two_alarms("a")
    queue.add_detection(first)
    queue.add_detection(two_alarms("b"))
    queue.add_frame(frame("b", seed=1), image=png(1))
    pending = queue.pending(["1"])
    assert [item.frame_id for item in pending] == ["a", "b"]
    assert all(item.has_image and item.alarmed for item in pending)
    assert queue.image(pending[1].id) == png(1)
    assert pending[0].detection == first


def test_only_alarmed_unanswered_frames_of_the_lane_wait(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    queue.add_detection(two_alarms("alarm"))
    queue.add_detection(detection("quiet", detected("o1", (1, 1, 9, 9), alarmed=False)))
    queue.add_detection(two_alarms("other-lane", lane="2"))
    queue.add_frame(frame("no-detection-yet"), image=png())
    assert [item.frame_id for item in queue.pending(["1"])] == ["alarm"]
    assert [item.frame_id for item in queue.pending(["1", "2"])] == ["alarm", "other-lane"]
    live = queue.latest("1")
    assert live is not None
    assert live.frame_id == "no-detection-yet"
    assert live.detection is None


def test_the_queue_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    first = ReviewQueue(path)
    first.add_frame(frame("a"), image=png())
    first.add_detection(two_alarms("a"))
    first.save_offsets({("scanner.frames", 3): 17})
    first.close()
    again = ReviewQueue(path)
    assert [item.frame_id for item in again.pending(["1"])] == ["a"]
    assert again.offsets() == {("scanner.frames", 3): 17}


def test_a_replayed_detection_changes_nothing(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    original = two_alarms("a")
    queue.add_detection(original)
    queue.add_detection(two_alarms("a"))  # same frame, new event id
    (item,) = queue.pending(["1"])
    assert item.detection is not None
    assert item.detection.event_id == original.event_id


def test_a_frame_is_answered_once(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    queue.add_detection(two_alarms("a"))
    (item,) = queue.pending(["1"])
    detection_event = queue.claim(item.id, guard="ana")
    assert detection_event.frame_id == "a"
    assert queue.pending(["1"]) == []
    with pytest.raises(VerdictError, match="already answered by ana"):
        queue.claim(item.id, guard="ben")
    queue.release(item.id)
    assert [i.frame_id for i in queue.pending(["1"])] == ["a"]


def test_a_frame_without_detection_cannot_be_answered(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    queue.add_frame(frame("a"), image=png())
    item = queue.latest("1")
    assert item is not None
    with pytest.raises(VerdictError, match="no detection yet"):
        queue.claim(item.id, guard="ana")
    with pytest.raises(FrameNotFoundError):
        queue.claim(item.id + 100, guard="ana")


def test_pruning_keeps_pending_alarms_and_the_most_recent_frames(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite", keep_per_lane=2)
    queue.add_detection(two_alarms("old-alarm"))
    for index in range(5):
        queue.add_detection(detection(f"quiet-{index}", detected("o", (1, 1, 9, 9), alarmed=False)))
    assert queue.prune() == 3
    assert [item.frame_id for item in queue.pending(["1"])] == ["old-alarm"]
    live = queue.latest("1")
    assert live is not None
    assert live.frame_id == "quiet-4"
    with pytest.raises(FrameNotFoundError):
        queue.item(2)  # quiet-0 is gone


def test_the_published_verdict_is_recorded(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.sqlite")
    detection_event = two_alarms("a")
    queue.add_detection(detection_event)
    (item,) = queue.pending(["1"])
    queue.claim(item.id, guard="ana")
    verdict = GuardVerdict(
        checkpoint="hq", lane="1", frame_id="a", model_version="m", guard_id="ana",
        detection_event_id=detection_event.event_id, decision="confirmed",
    )  # fmt: skip
    queue.record(item.id, verdict)
    assert queue.item(item.id).reviewed_by == "ana"
