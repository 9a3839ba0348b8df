"""Matching detected objects across the views of one frame (#20): by 1-D IoU of their
x-intervals (the shared belt axis), compatible classes, best scores first, at most one
object per view in an item."""

from __future__ import annotations

import pytest

from schemas.events import Box, DetectedObject, ObjectClassName
from streams.exceptions import StreamsConfigError
from streams.logic.views import item_groups, match_items, x_iou


def _obj(
    object_id: str,
    x1: float,
    x2: float,
    *,
    view: str | None = None,
    cls: ObjectClassName = "usb",
    score: float = 0.8,
) -> DetectedObject:
    return DetectedObject(
        object_id=object_id, class_name=cls, score=score, box=Box(x1=x1, y1=0, x2=x2, y2=10),
        alarmed=score >= 0.5, view_id=view,
    )  # fmt: skip


def _items(objects: list[DetectedObject]) -> dict[str, str | None]:
    return {obj.object_id: obj.item_id for obj in match_items(objects)}


def test_x_iou_is_the_overlap_of_the_column_intervals_only() -> None:
    assert x_iou(_obj("a", 0, 10), _obj("b", 5, 15)) == pytest.approx(5 / 15)
    assert x_iou(_obj("a", 0, 10), _obj("b", 10, 20)) == 0.0
    tall = DetectedObject(
        object_id="t", class_name="usb", score=0.9, box=Box(x1=0, y1=500, x2=10, y2=900),
        alarmed=True,
    )  # fmt: skip
    assert x_iou(_obj("a", 0, 10), tall) == 1.0


def test_a_single_view_frame_is_left_as_it_is() -> None:
    objects = [_obj("o0", 0, 10), _obj("o1", 0, 10)]
    assert match_items(objects) == tuple(objects)


def test_the_same_item_in_two_views_is_one_item_named_by_its_best_object() -> None:
    items = _items(
        [
            _obj("o0", 100, 200, score=0.9),
            _obj("o1", 400, 450, score=0.7),
            _obj("o2", 110, 205, view="side", score=0.6),
        ]
    )
    assert items == {"o0": "o0", "o1": "o1", "o2": "o0"}


def test_columns_that_barely_overlap_or_incompatible_classes_stay_apart() -> None:
    items = _items(
        [
            _obj("o0", 100, 200),
            _obj("o1", 180, 280, view="side"),  # x-IoU 20/180
            _obj("o2", 400, 500, cls="others"),
            _obj("o3", 400, 500, view="side"),  # a look-alike is not a medium
        ]
    )
    assert items == {"o0": "o0", "o1": "o1", "o2": "o2", "o3": "o3"}


def test_media_of_different_classes_match_across_views() -> None:
    items = _items([_obj("o0", 0, 100, cls="tablet"), _obj("o1", 5, 100, cls="laptop", view="s")])
    assert items == {"o0": "o0", "o1": "o0"}


def test_best_pairs_first_and_one_object_per_view() -> None:
    """Two media side by side in the top view, one wide blob in the side view: the blob
    joins the better-scoring pair, the other top object stays an item of its own."""
    items = _items(
        [
            _obj("o0", 0, 100, score=0.6),
            _obj("o1", 20, 110, score=0.9),
            _obj("o2", 10, 105, view="side", score=0.7),
        ]
    )
    assert items == {"o0": "o0", "o1": "o1", "o2": "o1"}


def test_item_groups_collect_members_and_single_view_objects_alone() -> None:
    matched = match_items([_obj("o0", 0, 10), _obj("o1", 0, 10, view="side", score=0.5)])
    assert [[o.object_id for o in g] for g in item_groups(matched).values()] == [["o0", "o1"]]
    plain = [_obj("o0", 0, 10), _obj("o1", 0, 10)]
    assert list(item_groups(plain)) == ["o0", "o1"]


@pytest.mark.parametrize("threshold", [0.0, 1.5])
def test_a_threshold_outside_zero_one_is_refused(threshold: float) -> None:
    with pytest.raises(StreamsConfigError, match="min_x_iou"):
        match_items([], min_x_iou=threshold)
