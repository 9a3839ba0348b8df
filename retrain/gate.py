"""The gate a candidate model must pass before it is rolled out (pure).

Two conditions (issue #8):

* it must not lose more than ``max_base_map_loss_pts`` points of mAP@0.5 (storage media)
  on the fixed base hold-out set, so fixing new mistakes does not forget the old task;
* it must make fewer checkpoint-level errors than its parent on the hold-out set of recent
  mistakes: a bag wrongly alarmed, or a bag with media not alarmed
  (:func:`mistake_error_rate`). Equal is not better: a retrain that fixes nothing is not
  worth a rollout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from detector.evaluation.bags import BagMetrics
from retrain.exceptions import GateError

__all__ = ["DEFAULT_MAX_BASE_MAP_LOSS_PTS", "GateResult", "gate", "mistake_error_rate"]

#: Issue #8's bound: at most half a point of mAP@0.5 lost on the base set.
DEFAULT_MAX_BASE_MAP_LOSS_PTS: Final[float] = 0.5


@dataclass(frozen=True)
class GateResult:
    """Whether the candidate passed, why (one line per condition) and the figures used."""

    passed: bool
    reasons: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)


def mistake_error_rate(bags: BagMetrics) -> float:
    """Share of bags with a wrong alarm decision: false alarms plus missed media bags."""
    if bags.bags == 0:
        raise GateError("the recent-mistakes hold-out set is empty")
    missed = bags.media_bags - bags.alarmed_media_bags
    return (bags.alarmed_clean_bags + missed) / bags.bags


def gate(
    *,
    parent_base_map50: float | None,
    candidate_base_map50: float | None,
    parent_mistakes: float,
    candidate_mistakes: float,
    max_base_map_loss_pts: float = DEFAULT_MAX_BASE_MAP_LOSS_PTS,
) -> GateResult:
    """Apply both conditions; mAP values in [0, 1] (None: no base hold-out configured, the
    first condition is then skipped and says so)."""
    reasons = []
    metrics = {
        "gate/parent_mistake_error_rate": parent_mistakes,
        "gate/candidate_mistake_error_rate": candidate_mistakes,
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
            f"{parent_base_map50 * 100:.1f}: {'ok' if base_ok else 'loses'} {loss_pts:+.1f} pts "
            f"(bound {max_base_map_loss_pts:.1f})"
        )
    mistakes_ok = candidate_mistakes < parent_mistakes
    reasons.append(
        f"recent mistakes: error rate {candidate_mistakes:.2f} vs parent {parent_mistakes:.2f}"
        f" ({'better' if mistakes_ok else 'not better'})"
    )
    return GateResult(base_ok and mistakes_ok, tuple(reasons), metrics)
