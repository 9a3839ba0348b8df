"""The visibility harness (``bench/visibility.py``) on a synthetic scan of known answers: one
box of known colour on a flat background, found by a detection equal to the ground truth."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.visibility import (
    attenuation,
    box_contrast,
    clear_and_occluded,
    measure,
    measure_image,
    occlusion,
    summarise,
)
from detector.datasets.coco import (
    CocoImage,
    CocoObject,
    encode_png,
    encode_raw_png,
    write_annotations,
)
from detector.sim.simulate import RAW_FULL_SCALE

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


#: Transmissions (low, high) of the object itself: what it adds is ln 2 and ln 1.25.
OBJECT_T = (0.5, 0.8)


def _raw(background_t: tuple[float, float]) -> np.ndarray:
    """16-bit raw channels of the scan: the object's transmission times the background's."""
    planes = np.empty((64, 80, 2), dtype=np.float64)
    planes[:] = background_t
    x1, y1, x2, y2 = (int(v) for v in BOX)
    planes[y1:y2, x1:x2] *= OBJECT_T
    return np.rint(planes * RAW_FULL_SCALE).astype(np.uint16)


def test_attenuation_contrast_is_what_the_object_adds_on_any_background() -> None:
    added = math.hypot(math.log(2.0), math.log(1.25))
    objects = [CocoObject(6, "sd_card", BOX)]
    for background_t, background in (((1.0, 1.0), 0.0), ((0.05, 0.1), -0.5 * math.log(0.005))):
        att = attenuation(_raw(background_t))
        [measured] = measure_image(_scan(), objects, [], image_id=0, attenuations=att)
        assert measured.attenuation_contrast == pytest.approx(added, rel=1e-3)
        assert measured.background_attenuation == pytest.approx(background, rel=1e-3)
    # Nothing passing counts as one quantum, not as infinite attenuation.
    assert attenuation(np.zeros((1, 1, 2), dtype=np.uint16)).max() == pytest.approx(
        math.log(RAW_FULL_SCALE)
    )


def test_clear_and_occluded_objects_are_split_and_raw_less_sets_give_nothing() -> None:
    att = attenuation(_raw((1.0, 1.0)))
    clear = measure_image(
        _scan(), [CocoObject(6, "sd_card", BOX)], [_detection(BOX, 6, 0.9)], image_id=0,
        attenuations=att,
    )  # fmt: skip
    covered = measure_image(
        _scan(),
        [CocoObject(6, "sd_card", BOX), CocoObject(7, "laptop", (8.0, 8.0, 72.0, 56.0))],
        [],
        image_id=1,
        attenuations=att,
    )
    splits = clear_and_occluded(clear + covered)
    clear_split, occluded_split = splits["sdcard"]
    assert clear_split is not None
    assert occluded_split is not None
    assert (clear_split.objects, clear_split.recall) == (1, 1.0)
    assert (occluded_split.objects, occluded_split.recall) == (1, 0.0)
    assert clear_split.levels_per_attenuation == pytest.approx(
        CONTRAST / math.hypot(math.log(2.0), math.log(1.25)), rel=1e-3
    )
    laptop_clear, laptop_occluded = splits["laptop"]
    assert laptop_occluded is None
    assert laptop_clear is not None
    assert (
        clear_and_occluded(measure_image(_scan(), [CocoObject(6, "sd_card", BOX)], [], image_id=0))
        == {}
    )


def test_measure_reads_raw_channels_where_the_set_has_them(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "000000.png").write_bytes(encode_png(_scan()))
    (tmp_path / "images" / "000000_raw.png").write_bytes(encode_raw_png(_raw((0.3, 0.5))))
    image = CocoImage(
        0, "images/000000.png", 80, 64, (CocoObject(6, "sd_card", BOX),), "images/000000_raw.png"
    )
    write_annotations(tmp_path, [image])
    [measured] = measure(tmp_path, [])
    assert measured.attenuation_contrast == pytest.approx(
        math.hypot(math.log(2.0), math.log(1.25)), rel=1e-3
    )
