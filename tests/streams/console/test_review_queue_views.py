"""The review queue keeps the images of a frame's extra views (#20) beside the primary one:
stored with the detection in one transaction, readable by view, and pruned with their frame."""

from __future__ import annotations

import dataclasses

import pytest

from schemas.events import Detection, DetectionView
from streams.console.exceptions import FrameNotFoundError
from streams.console.review_queue import ReviewQueue, ViewImage
from tests.streams.helpers import detection, obj


def _dual(frame_id: str, *, alarmed: bool = True) -> Detection:
    views = tuple(
        DetectionView(view_id=view, image_width=16, image_height=16) for view in ("side", "end")
    )
    det = detection(obj("o0", (0, 0, 4, 4), alarmed=alarmed), frame_id=frame_id)
    return dataclasses.replace(det, views=views)


def test_view_images_are_kept_by_view_and_say_why_one_is_missing() -> None:
    queue = ReviewQueue(":memory:")
    views = [ViewImage("side", b"side-png"), ViewImage("end", None, "hash mismatch")]
    queue.add_detection(_dual("f1"), image=b"top-png", views=views)
    queue.add_detection(_dual("f1"), image=b"other", views=[ViewImage("side", b"replayed")])
    (item,) = queue.pending(["1"])
    assert item.view_errors == {"side": None, "end": "hash mismatch"}
    assert queue.view_image(item.id, "side") == b"side-png"
    with pytest.raises(FrameNotFoundError, match="view 'end'"):
        queue.view_image(item.id, "end")


def test_view_images_are_pruned_with_their_frame() -> None:
    queue = ReviewQueue(":memory:", keep_per_lane=1)
    for index in range(3):
        queue.add_detection(
            _dual(f"f{index}", alarmed=False), image=b"top", views=[ViewImage("side", b"s")]
        )
    kept = queue.latest("1")
    assert kept is not None
    assert queue.prune() == 2
    assert queue.view_image(kept.id, "side") == b"s"
    for pruned in range(1, kept.id):
        with pytest.raises(FrameNotFoundError):
            queue.view_image(pruned, "side")
