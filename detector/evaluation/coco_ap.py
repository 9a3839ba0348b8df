"""COCO-style average precision via pycocotools (never hand-written: the numbers must be
comparable with the original study and every other COCO-evaluated detector).

Inputs are plain COCO dicts: the ground truth as in ``annotations.json`` and detections as
COCO result rows ``{"image_id", "category_id", "bbox": [x, y, w, h] px, "score"}``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detector.exceptions import EvaluationError
from leakguard.classes import CLASS_NAMES, STORAGE_MEDIA_CLASS_IDS

__all__ = ["CocoMetrics", "PrCurve", "evaluate_coco"]

#: Index of IoU 0.5 in COCOeval's thresholds (0.50, 0.55, ..., 0.95).
_IOU50: Final[int] = 0
#: COCOeval area range "all" and the largest max-detections setting (100).
_AREA_ALL: Final[int] = 0
_MAXDET_LAST: Final[int] = -1
#: COCOeval marks "no ground truth for this class" with -1.
_ABSENT: Final[float] = -1.0


@dataclass(frozen=True)
class PrCurve:
    """Interpolated precision at COCO's 101 recall points (IoU 0.5), for one class."""

    recall: tuple[float, ...]
    precision: tuple[float, ...]


@dataclass(frozen=True)
class CocoMetrics:
    """AP figures in ``[0, 1]``; ``None`` where the class has no ground truth.

    ``map50_media``: mean AP@0.5 over the storage-media classes that have ground truth
    (the original study's headline figure); ``ap50_95``: COCO AP@[.5:.95] over all classes.
    """

    ap50: Mapping[int, float | None]
    ap50_95_per_class: Mapping[int, float | None]
    map50_media: float | None
    map50_all: float | None
    ap50_95: float | None
    pr_curves: Mapping[int, PrCurve]


def _mean(values: np.ndarray) -> float | None:
    present = values[values > _ABSENT]
    return float(present.mean()) if present.size else None


def _quiet_coco(dataset: dict[str, Any]) -> COCO:
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    return coco


def evaluate_coco(
    ground_truth: dict[str, Any], detections: Sequence[Mapping[str, Any]]
) -> CocoMetrics:
    """Run COCOeval (bbox) and pull per-class AP@0.5, AP@[.5:.95] and PR curves."""
    # pycocotools indexes ground truth by annotation id and silently keeps one object per
    # repeated id, so the ids it sees are ours, 1..N, whatever the document held.
    gt = {
        "images": ground_truth.get("images", []),
        "annotations": [
            {"iscrowd": 0, "area": a["bbox"][2] * a["bbox"][3], **a, "id": n}
            for n, a in enumerate(ground_truth.get("annotations", []), start=1)
        ],
        "categories": [{"id": i, "name": n} for i, n in CLASS_NAMES.items()],
    }
    image_ids = {int(im["id"]) for im in gt["images"]}
    for det in detections:
        if int(det["image_id"]) not in image_ids or int(det["category_id"]) not in CLASS_NAMES:
            raise EvaluationError(f"detection refers to unknown image/class: {dict(det)}")
    coco_gt = _quiet_coco(gt)
    coco_dt = _quiet_coco(
        {
            **{k: gt[k] for k in ("images", "categories")},
            "annotations": [
                {
                    "id": i + 1,
                    "image_id": int(d["image_id"]),
                    "category_id": int(d["category_id"]),
                    "bbox": [float(v) for v in d["bbox"]],
                    "area": float(d["bbox"][2]) * float(d["bbox"][3]),
                    "score": float(d["score"]),
                    "iscrowd": 0,
                }
                for i, d in enumerate(detections)
            ],
        }
    )
    evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
    # precision: [T iou thresholds, R=101 recall points, K classes, A areas, M max-dets]
    precision = evaluator.eval["precision"][:, :, :, _AREA_ALL, _MAXDET_LAST]
    cat_ids = [int(c) for c in evaluator.params.catIds]
    ap50: dict[int, float | None] = {}
    ap_all: dict[int, float | None] = {}
    curves: dict[int, PrCurve] = {}
    recall_points = tuple(float(r) for r in evaluator.params.recThrs)
    for k, cat in enumerate(cat_ids):
        ap50[cat] = _mean(precision[_IOU50, :, k])
        per_iou = [_mean(precision[t, :, k]) for t in range(precision.shape[0])]
        present_iou = [v for v in per_iou if v is not None]
        ap_all[cat] = float(np.mean(present_iou)) if present_iou else None
        if ap50[cat] is not None:
            pr = np.clip(precision[_IOU50, :, k], 0.0, None)
            curves[cat] = PrCurve(recall_points, tuple(float(p) for p in pr))
    media = [v for c, v in ap50.items() if c in STORAGE_MEDIA_CLASS_IDS and v is not None]
    present = [v for v in ap50.values() if v is not None]
    return CocoMetrics(
        ap50=ap50,
        ap50_95_per_class=ap_all,
        map50_media=float(np.mean(media)) if media else None,
        map50_all=float(np.mean(present)) if present else None,
        ap50_95=_mean(precision),
        pr_curves=curves,
    )
