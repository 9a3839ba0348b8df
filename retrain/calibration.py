"""The operating point of a candidate, chosen on the base hold-out (pure).

A candidate that learnt to score a new confuser low has shifted its other scores too; at the
edges' threshold it may miss fewer media than its parent did and alarm on more confusers
than it needs to. Its point is the highest threshold, at or above the edges', at which it
misses no more of the base hold-out's media than its parent did at the parent's own point:
what the edge's live miss rate will be judged against (:mod:`schemas.rollback`). It never
goes below the edges' threshold: a candidate that misses more even there is left to the
gate to refuse, not made to alarm more readily.

The point is chosen on the same base hold-out that the gate then reads, so the candidate's
base miss rate is at most the parent's by construction; the drift figures that matter (false
alarms on held-out drifted frames) come from frames it has never seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from detector.evaluation.alarms import alarm_mistakes
from detector.operating_point import OperatingPoint
from leakguard.classes import alarm_thresholds

__all__ = ["THRESHOLD_STEP", "choose_operating_point"]

#: Thresholds tried above the edges', in steps of this size.
THRESHOLD_STEP: Final[float] = 0.01


def choose_operating_point(
    ground_truth: Mapping[str, Any],
    detections: Iterable[Mapping[str, Any]],
    *,
    edge_threshold: float,
    max_miss_rate: float,
) -> OperatingPoint:
    """The highest threshold (from ``edge_threshold`` up, in :data:`THRESHOLD_STEP` steps)
    at which ``detections`` (COCO result rows on ``ground_truth``) miss at most
    ``max_miss_rate`` of the media; ``edge_threshold`` itself where none does, or where the
    set holds no medium."""
    rows = list(detections)
    chosen = edge_threshold
    chosen_misses = alarm_mistakes(ground_truth, rows, alarm_thresholds(edge_threshold))
    if chosen_misses.media == 0:  # nothing to miss: every threshold would look as good
        return OperatingPoint(edge_threshold, edge_threshold, 0.0)
    # Misses only grow with the threshold (a higher one keeps a subset of the alarms), so
    # the search stops at the first threshold that misses too many.
    for step in range(1, round((1.0 - edge_threshold) / THRESHOLD_STEP) + 1):
        threshold = round(edge_threshold + step * THRESHOLD_STEP, 6)
        misses = alarm_mistakes(ground_truth, rows, alarm_thresholds(threshold))
        if misses.miss_rate > max_miss_rate:
            break
        chosen, chosen_misses = threshold, misses
    return OperatingPoint(
        edge_threshold=edge_threshold,
        alarm_threshold=chosen,
        miss_rate=chosen_misses.miss_rate,
    )
