"""Evaluation reproduces hand-computed COCO AP and bag-level figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from detector.evaluation import (
    alarm_mistakes,
    bag_metrics,
    build_report,
    evaluate_coco,
    write_report,
)
from detector.exceptions import EvaluationError
from leakguard.classes import alarm_thresholds


def _gt() -> dict[str, Any]:
    """Image 1: two hdd (class 1); image 2: one sdcard (6); image 3: clean; image 4: a
    power bank (``others``, 9) only."""
    boxes = [(1, 1, [10, 10, 20, 20]), (1, 1, [50, 50, 20, 20]), (2, 6, [5, 5, 10, 10])]
    boxes.append((4, 9, [30, 30, 20, 20]))
    return {
        "images": [
            {"id": i, "width": 100, "height": 100, "file_name": f"{i}.png"} for i in (1, 2, 3, 4)
        ],
        "annotations": [
            {"id": n, "image_id": img, "category_id": cat, "bbox": bbox}
            for n, (img, cat, bbox) in enumerate(boxes, start=1)
        ],
    }


def _det(image_id: int, cat: int, bbox: list[float], score: float) -> dict[str, Any]:
    return {"image_id": image_id, "category_id": cat, "bbox": bbox, "score": score}


DETECTIONS = [
    _det(1, 1, [10, 10, 20, 20], 0.9),  # TP
    _det(3, 1, [60, 60, 20, 20], 0.8),  # FP on the clean bag
    _det(1, 1, [50, 50, 20, 20], 0.7),  # TP
    _det(4, 9, [30, 30, 20, 20], 0.95),  # others, perfect; never alarms
]


def test_ap_matches_hand_computed_values() -> None:
    metrics = evaluate_coco(_gt(), DETECTIONS)
    # hdd ranking TP, FP, TP: interpolated precision 1 up to recall 0.5 (51 of COCO's 101
    # recall points), 2/3 from 0.51 to 1.0 (50 points).
    assert metrics.ap50[1] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert metrics.ap50[6] == 0.0  # ground truth, no detection
    assert metrics.ap50[9] == pytest.approx(1.0)
    assert metrics.ap50[2] is None  # no ground truth: not counted
    assert metrics.map50_media == pytest.approx(((51 + 50 * 2 / 3) / 101 + 0.0) / 2)
    # Exact boxes match at every IoU threshold, so AP@[.5:.95] equals AP@0.5 here.
    assert metrics.ap50_95_per_class[1] == pytest.approx(metrics.ap50[1])
    assert len(metrics.pr_curves[1].recall) == 101


def _as_detections(ground_truth: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _det(a["image_id"], a["category_id"], a["bbox"], 1.0) for a in ground_truth["annotations"]
    ]


def test_ground_truth_as_detections_scores_one() -> None:
    metrics = evaluate_coco(_gt(), _as_detections(_gt()))
    exactly_one = pytest.approx(1.0, abs=1e-12)
    assert (metrics.map50_media, metrics.map50_all, metrics.ap50_95) == (exactly_one,) * 3
    present = {c: v for c, v in metrics.ap50.items() if v is not None}
    assert present == {1: exactly_one, 6: exactly_one, 9: exactly_one}


def test_repeated_ground_truth_ids_still_count_every_object() -> None:
    """Several objects of one image under one id (what a buggy writer produced) all count."""
    gt = _gt()
    for ann in gt["annotations"]:
        ann["id"] = ann["image_id"]
    assert evaluate_coco(gt, _as_detections(gt)).map50_media == pytest.approx(1.0, abs=1e-12)
    # Only one of image 1's two hdds found: hdd recall 1/2, so AP 51/101, not 1.0.
    one_hdd = [d for d in _as_detections(gt) if d["bbox"] != [50, 50, 20, 20]]
    assert evaluate_coco(gt, one_hdd).ap50[1] == pytest.approx(51 / 101)


def test_no_detections_score_zero_and_no_ground_truth_scores_none() -> None:
    metrics = evaluate_coco(_gt(), [])
    assert (metrics.ap50[1], metrics.ap50[6], metrics.map50_media) == (0.0, 0.0, 0.0)
    empty = evaluate_coco({"images": [{"id": 1, "width": 9, "height": 9}], "annotations": []}, [])
    assert empty.map50_media is None
    assert all(v is None for v in empty.ap50.values())


def test_localisation_error_lowers_strict_ap_only() -> None:
    shifted = [_det(2, 6, [6, 6, 10, 10], 0.9)]  # IoU 81/119 = 0.68
    metrics = evaluate_coco(_gt(), shifted)
    assert metrics.ap50[6] == pytest.approx(1.0)
    assert metrics.ap50_95_per_class[6] == pytest.approx(4 / 10)  # IoU thresholds .50-.65


def test_bag_metrics_at_operating_threshold() -> None:
    thresholds = dict.fromkeys(range(1, 9), 0.75)
    bags = bag_metrics(_gt(), DETECTIONS, thresholds)
    # Media bags: 1, 2. Clean bags: 3, 4 (``others`` is not media). Alarms: 1 (0.9), 3 (0.8).
    assert (bags.media_bags, bags.clean_bags) == (2, 2)
    assert bags.detection_rate == 0.5
    assert bags.false_alarm_rate == 0.5
    assert bags.ppv == 0.5
    strict = bag_metrics(_gt(), DETECTIONS, dict.fromkeys(range(1, 9), 0.85))
    assert (strict.detection_rate, strict.false_alarm_rate, strict.ppv) == (0.5, 0.0, 1.0)


def test_report_files(tmp_path: Path) -> None:
    report = build_report(_gt(), DETECTIONS, thresholds={1: 0.5}, model_version="m1")
    written = write_report(report, tmp_path)
    assert report.to_dict()["per_class"]["hdd"]["ap50"] == pytest.approx(0.8350, abs=1e-4)
    assert "Bag detection rate" in written["markdown"].read_text()
    assert (tmp_path / "pr_curves" / "pr_1_hdd.png").stat().st_size > 0
    assert "ap50/hdd" in report.flat_metrics()


def test_operating_curve_gives_bag_and_object_figures_per_threshold(tmp_path: Path) -> None:
    report = build_report(_gt(), DETECTIONS, thresholds={1: 0.5})
    curve = {point.threshold: point for point in report.operating_curve}
    at = alarm_thresholds(0.75)
    assert curve[0.75].bags == bag_metrics(_gt(), DETECTIONS, at)
    assert curve[0.75].alarms == alarm_mistakes(_gt(), DETECTIONS, at)
    assert (curve[0.85].bags.detection_rate, curve[0.85].bags.false_alarm_rate) == (0.5, 0.0)
    # Three media (two hdds, an sdcard); at 0.75 the alarms are the first hdd (0.9) and the
    # clean bag (0.8): two media missed, one alarm of two on no medium.
    assert (curve[0.75].alarms.misses, curve[0.75].alarms.media) == (2, 3)
    assert curve[0.75].alarms.false_alarm_rate == 0.5
    rates = [point.bags.detection_rate for point in report.operating_curve]
    assert rates == sorted(rates, reverse=True)  # a higher threshold never alarms more
    missed = [point.alarms.miss_rate for point in report.operating_curve]
    assert missed == sorted(missed)  # nor covers more media
    rows = report.to_dict()["operating_curve"]
    assert [row["threshold"] for row in rows] == sorted(curve)
    write_report(report, tmp_path)
    summary = (tmp_path / "summary.md").read_text()
    assert "| 0.75 | 50.00 % | 50.00 % | 50.00 % | 66.67 % | 50.00 % |" in summary


def test_media_missed_at_the_operating_point(tmp_path: Path) -> None:
    report = build_report(_gt(), DETECTIONS, thresholds=alarm_thresholds(0.5))
    # At 0.5 both hdds alarm and the clean bag too: the sdcard alone is missed.
    assert (report.alarms.misses, report.alarms.false_alarms, report.alarms.alarms) == (1, 1, 3)
    flat = report.flat_metrics()
    assert flat["media_miss_rate"] == pytest.approx(1 / 3)
    assert flat["alarm_false_rate"] == pytest.approx(1 / 3)
    written = write_report(report, tmp_path)
    assert "1 of 3 storage media no alarm covers" in written["markdown"].read_text()
    assert json.loads(written["detections"].read_text()) == DETECTIONS
    objects = json.loads(written["json"].read_text())["operating_point"]["objects"]
    assert (objects["misses"], objects["media"]) == (1, 3)


def test_ground_truth_as_detections_misses_nothing_and_no_detection_misses_everything() -> None:
    perfect = build_report(_gt(), _as_detections(_gt()), thresholds=alarm_thresholds(0.5))
    assert (perfect.alarms.miss_rate, perfect.alarms.false_alarm_rate) == (0.0, 0.0)
    silent = build_report(_gt(), [], thresholds=alarm_thresholds(0.5))
    assert silent.alarms.miss_rate == 1.0
    assert "alarm_false_rate" not in silent.flat_metrics()  # no alarm: no share to give


def test_a_set_without_media_gives_no_miss_rate_and_counts_its_false_alarms(
    tmp_path: Path,
) -> None:
    """A clean-bag set (the ``no-media`` preset) measures false alarms only: a miss rate of
    0 there would read as a detector that misses nothing."""
    truth = _gt()
    truth["images"] = [im for im in truth["images"] if im["id"] in (3, 4)]
    truth["annotations"] = [a for a in truth["annotations"] if a["image_id"] in (3, 4)]
    detections = [d for d in DETECTIONS if d["image_id"] in (3, 4)]
    report = build_report(truth, detections, thresholds=alarm_thresholds(0.5))
    assert (report.bags.clean_bags, report.bags.alarmed_clean_bags) == (2, 1)
    assert report.bags.detection_rate is None
    doc = report.to_dict()
    assert doc["operating_point"]["objects"]["miss_rate"] is None
    assert {row["objects"]["miss_rate"] for row in doc["operating_curve"]} == {None}
    assert "media_miss_rate" not in report.flat_metrics()
    summary = write_report(report, tmp_path)["markdown"].read_text()
    assert "- Media missed, per object: n/a (0 of 0" in summary
    assert "| 0.50 | n/a | 50.00 % | 0.00 % | n/a | 100.00 % |" in summary


def test_alarm_mistakes_count_alarms_on_no_medium_and_uncovered_media() -> None:
    truth = {
        "images": [{"id": 0}, {"id": 1}],
        "annotations": [
            {"image_id": 0, "category_id": 3, "bbox": [10, 10, 40, 80]},  # a phone
            {"image_id": 0, "category_id": 9, "bbox": [100, 10, 40, 80]},  # a decoration
            {"image_id": 1, "category_id": 4, "bbox": [10, 10, 20, 40]},  # a usb stick
        ],
    }
    detections = [
        _det(0, 8, [11, 11, 40, 78], 0.9),  # the phone, called a tablet: a right alarm
        _det(0, 3, [100, 12, 40, 78], 0.9),  # the decoration, called a phone: a false alarm
        _det(0, 3, [200, 200, 30, 30], 0.3),  # below the threshold: no alarm
        _det(1, 9, [10, 10, 20, 40], 0.9),  # others never alarm: the usb stick is missed
    ]
    thresholds = alarm_thresholds(0.5)
    wrong = alarm_mistakes(truth, detections, thresholds)
    assert (wrong.frames, wrong.false_alarms, wrong.misses) == (2, 1, 1)
    assert (wrong.alarms, wrong.media) == (2, 2)
    assert wrong.per_frame == pytest.approx(1.0)
    assert (wrong.miss_rate, wrong.false_alarm_rate) == (0.5, 0.5)
    with pytest.raises(EvaluationError, match="empty"):
        alarm_mistakes({"images": []}, [], thresholds)


def test_unknown_image_is_refused() -> None:
    with pytest.raises(EvaluationError):
        evaluate_coco(_gt(), [_det(99, 1, [0, 0, 5, 5], 0.5)])
