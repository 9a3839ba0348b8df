"""The one definition of "same object" on plain coordinates, and the events' boxes agree."""

from __future__ import annotations

import pytest

from leakguard.geometry import iou_xyxy
from schemas.events import Box
from schemas.geometry import iou


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),
        ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),  # touching edges share no area
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),
        ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),  # empty boxes never match
        ((0, 0, 10, 10), (2, 2, 4, 4), 4 / 100),  # one inside the other
    ],
)
def test_iou_of_known_boxes(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float], expected: float
) -> None:
    assert iou_xyxy(a, b) == pytest.approx(expected)
    assert iou_xyxy(b, a) == pytest.approx(expected)
    as_boxes = iou(Box(x1=a[0], y1=a[1], x2=a[2], y2=a[3]), Box(x1=b[0], y1=b[1], x2=b[2], y2=b[3]))
    assert as_boxes == pytest.approx(expected)
