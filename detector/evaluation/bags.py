"""Checkpoint-level figures a security manager reads: does a bag with media alarm, does a
clean bag alarm, and how often is an alarm real.

One image is one bag (or tray). A bag *carries media* if any ground-truth object is a
storage medium; it *alarms* if any detection of a storage-medium class scores at or above
that class's threshold. ``others`` never alarms and never makes a bag carry media. This is
deliberately box-agnostic: at the checkpoint a guard opens the bag, so an alarm caused by the
wrong object in the right bag still finds the medium.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from leakguard.classes import is_storage_medium

__all__ = ["BagMetrics", "bag_alarms", "bag_metrics"]


@dataclass(frozen=True)
class BagMetrics:
    """Counts and rates at one operating point; a rate is ``None`` when its base is empty.

    ``detection_rate`` = alarmed media bags / media bags; ``false_alarm_rate`` = alarmed
    clean bags / clean bags; ``ppv`` = alarmed media bags / alarmed bags.
    """

    bags: int
    media_bags: int
    clean_bags: int
    alarmed_media_bags: int
    alarmed_clean_bags: int
    detection_rate: float | None
    false_alarm_rate: float | None
    ppv: float | None


def bag_alarms(
    detections: Iterable[Mapping[str, Any]], thresholds: Mapping[int, float]
) -> set[int]:
    """Image ids with at least one storage-medium detection at or above its class threshold.

    ``detections`` are COCO result rows; a class missing from ``thresholds`` never alarms.
    """
    alarmed: set[int] = set()
    for det in detections:
        cat = int(det["category_id"])
        if is_storage_medium(cat) and cat in thresholds and float(det["score"]) >= thresholds[cat]:
            alarmed.add(int(det["image_id"]))
    return alarmed


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def bag_metrics(
    ground_truth: Mapping[str, Any],
    detections: Iterable[Mapping[str, Any]],
    thresholds: Mapping[int, float],
) -> BagMetrics:
    """Bag-level detection rate, false-alarm rate and PPV of ``detections`` on a COCO set."""
    images = {int(im["id"]) for im in ground_truth.get("images", [])}
    media = {
        int(a["image_id"])
        for a in ground_truth.get("annotations", [])
        if is_storage_medium(int(a["category_id"]))
    }
    alarmed = bag_alarms(detections, thresholds) & images
    clean = images - media
    hits, false_alarms = len(alarmed & media), len(alarmed & clean)
    return BagMetrics(
        bags=len(images),
        media_bags=len(media),
        clean_bags=len(clean),
        alarmed_media_bags=hits,
        alarmed_clean_bags=false_alarms,
        detection_rate=_ratio(hits, len(media)),
        false_alarm_rate=_ratio(false_alarms, len(clean)),
        ppv=_ratio(hits, len(alarmed)),
    )
