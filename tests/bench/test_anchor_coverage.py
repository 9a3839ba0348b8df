"""The anchor coverage harness (``bench/anchor_coverage.py``) on boxes of known answer: an
anchor given as ground truth is covered exactly, a hair-thin box only by its low-quality
best anchor, and the summary counts what it is given."""

from __future__ import annotations

import pytest

from bench.anchor_coverage import AnchorMatcher, ObjectCoverage, summarise
from detector.datasets.coco import CocoImage, CocoObject
from detector.model.presets import get_preset

#: The tiny preset's input side: frames of that size are not resized.
SIDE = 128


@pytest.fixture(scope="module")
def matcher() -> AnchorMatcher:
    return AnchorMatcher(get_preset("tiny"))


def _image(*boxes: tuple[float, float, float, float]) -> CocoImage:
    objects = tuple(CocoObject(5, "", box) for box in boxes)
    return CocoImage(1, "images/000001.png", SIDE, SIDE, objects)


def test_an_anchor_given_as_ground_truth_is_covered_exactly(matcher: AnchorMatcher) -> None:
    anchors = matcher.anchors(SIDE, SIDE)
    inside = (anchors[:, :2] >= 0).all(dim=1) & (anchors[:, 2:] <= SIDE).all(dim=1)
    x1, y1, x2, y2 = (float(v) for v in anchors[inside][0])
    [covered] = matcher.match(_image((x1, y1, x2, y2)))
    assert covered.best_iou == pytest.approx(1.0)
    assert covered.assigned >= 1


def test_a_hair_thin_box_gets_only_its_best_anchor(matcher: AnchorMatcher) -> None:
    [covered] = matcher.match(_image((10.0, 60.0, 118.0, 62.0)))
    assert covered.best_iou < matcher.high_threshold
    # The matcher's low-quality rule still gives it the anchor(s) that overlap it best.
    assert covered.assigned >= 1


def test_a_frame_without_objects_has_nothing_to_cover(matcher: AnchorMatcher) -> None:
    assert matcher.match(_image()) == []


def test_the_summary_counts_per_class() -> None:
    objects = [
        ObjectCoverage(class_id=5, best_iou=0.3, assigned=1),
        ObjectCoverage(class_id=5, best_iou=0.7, assigned=3),
        ObjectCoverage(class_id=6, best_iou=0.6, assigned=0),
    ]
    pen, card = summarise(objects, high_threshold=0.5)
    assert (pen.name, pen.objects, card.name, card.objects) == ("usb_pen", 2, "sdcard", 1)
    assert pen.median_best_iou == pytest.approx(0.5)
    assert pen.low_quality_share == 0.5
    assert pen.mean_assigned == 2.0
    assert pen.single_anchor_share == 0.5
    assert card.single_anchor_share == 1.0
    assert summarise([], high_threshold=0.5) == []
