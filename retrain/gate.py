"""The gate a candidate model must pass before it is rolled out (pure).

Two conditions (issue #8):

* it must not lose more than ``max_base_map_loss_pts`` points of mAP@0.5 (storage media)
  on the fixed base hold-out set, so fixing new mistakes does not forget the old task;
* it must make fewer wrong alarm decisions per frame than its parent on the hold-out set of
  recent mistakes (:func:`alarm_mistakes`): an alarm on no storage medium (what a guard
  rejects) or a medium no alarm covers (what a guard reports missed), matched with the
  outcome join's overlap rule. Counting per object, not per bag: a confuser that alarms in
  a bag that also holds a phone is still a false alarm the guard had to reject, and the
  drift scenario is made of exactly those. Equal is not better: a retrain that fixes
  nothing is not worth a rollout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from leakguard.classes import is_storage_medium
from retrain.exceptions import GateError
from schemas.events import Box
from streams.logic.outcomes import DEFAULT_MIN_IOU, iou

__all__ = [
    "DEFAULT_MAX_BASE_MAP_LOSS_PTS",
    "AlarmMistakes",
    "GateResult",
    "alarm_mistakes",
    "gate",
]

#: Issue #8's bound: at most half a point of mAP@0.5 lost on the base set.
DEFAULT_MAX_BASE_MAP_LOSS_PTS: Final[float] = 0.5


@dataclass(frozen=True)
class GateResult:
    """Whether the candidate passed, why (one line per condition) and the figures used."""

    passed: bool
    reasons: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AlarmMistakes:
    """Wrong alarm decisions of a model on a set of frames, per object."""

    frames: int
    false_alarms: int
    misses: int

    @property
    def per_frame(self) -> float:
        """False alarms plus misses, per frame."""
        return (self.false_alarms + self.misses) / self.frames


def _box(xywh: Iterable[float]) -> Box:
    x, y, w, h = (float(v) for v in xywh)
    return Box(x1=x, y1=y, x2=x + w, y2=y + h)


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
        raise GateError("the recent-mistakes hold-out set is empty")
    media: dict[int, list[Box]] = {f: [] for f in frames}
    for ann in ground_truth.get("annotations", []):
        if is_storage_medium(int(ann["category_id"])):
            media[int(ann["image_id"])].append(_box(ann["bbox"]))
    alarms: dict[int, list[Box]] = {f: [] for f in frames}
    for det in detections:
        cat, frame = int(det["category_id"]), int(det["image_id"])
        if frame in alarms and cat in thresholds and float(det["score"]) >= thresholds[cat]:
            alarms[frame].append(_box(det["bbox"]))
    false_alarms = sum(
        all(iou(a, m) < min_iou for m in media[f]) for f in frames for a in alarms[f]
    )
    misses = sum(all(iou(a, m) < min_iou for a in alarms[f]) for f in frames for m in media[f])
    return AlarmMistakes(len(frames), false_alarms, misses)


def gate(
    *,
    parent_base_map50: float | None,
    candidate_base_map50: float | None,
    parent_mistakes: float,
    candidate_mistakes: float,
    max_base_map_loss_pts: float = DEFAULT_MAX_BASE_MAP_LOSS_PTS,
) -> GateResult:
    """Apply both conditions; mAP values in [0, 1] (None: no base hold-out configured, the
    first condition is then skipped and says so); mistakes are wrong alarm decisions per
    frame (:attr:`AlarmMistakes.per_frame`)."""
    reasons = []
    metrics = {
        "gate/parent_mistakes_per_frame": parent_mistakes,
        "gate/candidate_mistakes_per_frame": candidate_mistakes,
    }
    base_ok = True
    if parent_base_map50 is None or candidate_base_map50 is None:
        reasons.append("base hold-out: not configured, not checked")
    else:
        loss_pts = (parent_base_map50 - candidate_base_map50) * 100.0
        base_ok = loss_pts <= max_base_map_loss_pts
        metrics |= {
            "gate/parent_base_map50": parent_base_map50,
            "gate/candidate_base_map50": candidate_base_map50,
        }
        reasons.append(
            f"base mAP@0.5 {candidate_base_map50 * 100:.1f} vs parent "
            f"{parent_base_map50 * 100:.1f} ({-loss_pts:+.1f} pts, may lose at most "
            f"{max_base_map_loss_pts:.1f}): {'ok' if base_ok else 'loses too much'}"
        )
    mistakes_ok = candidate_mistakes < parent_mistakes
    reasons.append(
        f"recent mistakes: {candidate_mistakes:.2f} wrong alarm decisions per frame vs parent "
        f"{parent_mistakes:.2f}"
        f" ({'better' if mistakes_ok else 'not better'})"
    )
    return GateResult(base_ok and mistakes_ok, tuple(reasons), metrics)
