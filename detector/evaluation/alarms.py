"""Alarm decisions counted per object, as the checkpoint counts them: an alarm on no storage
medium is a false alarm a guard rejects, a medium no alarm covers is one a guard reports
missed.

Bag-level figures (:mod:`detector.evaluation.bags`) say whether a bag was opened; these say
what the guard found there, which is what the demo's summary, the edges' rollback monitor
and the retrain gate count. Matched with the outcome join's overlap rule, whatever class the
alarm named: an alarm on the right object opens the bag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from detector.exceptions import EvaluationError
from leakguard.classes import is_storage_medium
from leakguard.geometry import DEFAULT_MIN_IOU, XYXY, iou_xyxy

__all__ = ["AlarmMistakes", "alarm_mistakes"]


@dataclass(frozen=True)
class AlarmMistakes:
    """Alarm decisions of a model on a set of frames, per object: how many alarms and media
    there were, and how many of them were wrong."""

    frames: int
    false_alarms: int
    misses: int
    alarms: int = 0
    media: int = 0

    @property
    def per_frame(self) -> float:
        """False alarms plus misses, per frame."""
        return (self.false_alarms + self.misses) / self.frames

    @property
    def miss_rate(self) -> float:
        """Media no alarm covers, of all media (0 without media): the edge's miss rate."""
        return self.misses / self.media if self.media else 0.0

    @property
    def false_alarm_rate(self) -> float:
        """Alarms on no medium, of all alarms (0 without alarms): the edge's false-alarm
        rate, the share of alarms a guard rejects."""
        return self.false_alarms / self.alarms if self.alarms else 0.0


def _box(xywh: Iterable[float]) -> XYXY:
    x, y, w, h = (float(v) for v in xywh)
    return (x, y, x + w, y + h)


def alarm_mistakes(
    ground_truth: Mapping[str, Any],
    detections: Iterable[Mapping[str, Any]],
    thresholds: Mapping[int, float],
    *,
    min_iou: float = DEFAULT_MIN_IOU,
) -> AlarmMistakes:
    """Count the alarms on no medium and the media no alarm covers, on a COCO set.

    ``detections`` are COCO result rows (``bbox`` ``[x, y, w, h]`` px). An alarm is a
    storage-medium detection at or above its class's threshold; it covers a medium of any
    class at IoU >= ``min_iou`` (at the checkpoint an alarm on the right object opens the
    bag whatever class it named), as the simulated guard and the outcome join decide.
    """
    frames = {int(im["id"]) for im in ground_truth.get("images", [])}
    if not frames:
        raise EvaluationError("the set is empty (no images): it holds no alarm decision to count")
    media: dict[int, list[XYXY]] = {f: [] for f in frames}
    for ann in ground_truth.get("annotations", []):
        if is_storage_medium(int(ann["category_id"])):
            media[int(ann["image_id"])].append(_box(ann["bbox"]))
    alarms: dict[int, list[XYXY]] = {f: [] for f in frames}
    for det in detections:
        cat, frame = int(det["category_id"]), int(det["image_id"])
        if frame in alarms and cat in thresholds and float(det["score"]) >= thresholds[cat]:
            alarms[frame].append(_box(det["bbox"]))
    false_alarms = sum(
        all(iou_xyxy(a, m) < min_iou for m in media[f]) for f in frames for a in alarms[f]
    )
    misses = sum(all(iou_xyxy(a, m) < min_iou for a in alarms[f]) for f in frames for m in media[f])
    return AlarmMistakes(
        frames=len(frames),
        false_alarms=false_alarms,
        misses=misses,
        alarms=sum(len(a) for a in alarms.values()),
        media=sum(len(m) for m in media.values()),
    )
