"""The visibility harness (``bench/visibility.py``) on a synthetic scan of known answers: one
box of known colour on a flat background, found by a detection equal to the ground truth."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.visibility import box_contrast, measure, measure_image, occlusion, summarise
from detector.datasets.coco import CocoImage, CocoObject, encode_png, write_annotations

BACKGROUND = (240, 200, 220)
#: The box differs by (-30, 40, 0) levels: a contrast of exactly 50.
INSIDE = (210, 240, 220)
BOX = (20.0, 24.0, 44.0, 40.0)
CONTRAST = 50.0


def _scan() -> np.ndarray:
    rgb = np.empty((64, 80, 3), dtype=np.uint8)
    rgb[:] = BACKGROUND
    x1, y1, x2, y2 = (int(v) for v in BOX)
    rgb[y1:y2, x1:x2] = INSIDE
    return rgb


def _detection(
    box: tuple[float, float, float, float], class_id: int, score: float
) -> dict[str, Any]:
    x1, y1, x2, y2 = box
    return {"image_id": 0, "category_id": class_id, "bbox": [x1, y1, x2 - x1, y2 - y1],
            "score": score}  # fmt: skip


def test_contrast_is_the_known_colour_difference() -> None:
    assert box_contrast(_scan(), BOX) == pytest.approx(CONTRAST)
    # A ring clipped by the image border still measures the same flat background.
    assert box_contrast(_scan(), BOX, ring_px=40) == pytest.approx(CONTRAST)


def test_contrast_refuses_a_box_without_a_ring() -> None:
    with pytest.raises(ValueError, match="no ring"):
        box_contrast(_scan(), (0.0, 0.0, 80.0, 64.0))


def test_occlusion_is_the_covered_share() -> None:
    assert occlusion(BOX, []) == 0.0
    assert occlusion(BOX, [(20.0, 24.0, 32.0, 40.0)]) == pytest.approx(0.5)
    assert occlusion(BOX, [(0.0, 0.0, 80.0, 64.0), (20.0, 24.0, 32.0, 40.0)]) == 1.0


def test_ground_truth_as_detections_is_found_and_no_detection_is_not() -> None:
    objects = [CocoObject(6, "sd_card", BOX)]
    found = measure_image(_scan(), objects, [_detection(BOX, 6, 0.9)], image_id=0)
    assert summarise(found).recall == 1.0
    assert found[0].covered
    assert found[0].side_px == pytest.approx(math.sqrt(24 * 16))
    assert found[0].aspect == pytest.approx(1.5)
    assert found[0].contrast == pytest.approx(CONTRAST)

    missed = measure_image(_scan(), objects, [], image_id=0)
    assert summarise(missed).recall == 0.0
    assert not missed[0].covered


def test_a_miss_below_the_threshold_or_of_another_class_is_told_apart() -> None:
    objects = [CocoObject(5, "usb_pen", BOX)]
    low = measure_image(_scan(), objects, [_detection(BOX, 5, 0.2)], image_id=0, threshold=0.3)
    assert not low[0].found
    assert low[0].best_low_score == pytest.approx(0.2)
    assert summarise(low).missed_low_score == 1.0
    # Another medium class on the box opens the bag (covered) but does not find a usb_pen.
    other = measure_image(_scan(), objects, [_detection(BOX, 4, 0.9)], image_id=0)
    assert not other[0].found
    assert other[0].covered


def test_measure_reads_a_data_set(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "000000.png").write_bytes(encode_png(_scan()))
    image = CocoImage(0, "images/000000.png", 80, 64, (CocoObject(6, "sd_card", BOX),))
    write_annotations(tmp_path, [image])
    detections = json.loads(json.dumps([_detection(BOX, 6, 0.9)]))
    objects = measure(tmp_path, detections)
    assert [(o.found, round(o.contrast, 6)) for o in objects] == [(True, CONTRAST)]
