"""The gate a candidate model must pass before it is rolled out (pure).

Three conditions:

* it must not lose more than ``max_base_map_loss_pts`` points of mAP@0.5 (storage media)
  on the fixed base hold-out set, so fixing new mistakes does not forget the old task;
* it must make fewer wrong alarm decisions per frame than its parent on the hold-out set of
  recent mistakes (:func:`detector.evaluation.alarms.alarm_mistakes`): an alarm on no
  storage medium (what a guard rejects) or a medium no alarm covers (what a guard reports
  missed), matched with the outcome join's overlap rule. Counting per object, not per bag:
  a confuser that alarms in a bag that also holds a phone is still a false alarm the guard
  had to reject, and the drift scenario is made of exactly those. Equal is not better: a
  retrain that fixes nothing is not worth a rollout;
* on the base set, where each model alarms on the edges (the edges' threshold, or a
  retrained model's own operating point: :mod:`retrain.calibration`), its miss rate and
  false-alarm rate must not exceed the parent's by more than the edges' own rollback bounds
  (:mod:`schemas.rollback`). mAP measures ranking, but a checkpoint alarms at one
  threshold: a candidate that ranks better with lower scores alarms less, and the edge
  would roll it back on its live miss rate (an early drift run did exactly that,
  docs/retrain.md). This predicts that rollback before anything is rolled out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from detector.evaluation.alarms import AlarmMistakes
from schemas.rollback import RollbackBounds

__all__ = [
    "DEFAULT_MAX_BASE_MAP_LOSS_PTS",
    "GateResult",
    "gate",
]

#: The bound: at most half a point of mAP@0.5 lost on the base set.
DEFAULT_MAX_BASE_MAP_LOSS_PTS: Final[float] = 0.5


@dataclass(frozen=True)
class GateResult:
    """Whether the candidate passed, why (one line per condition) and the figures used."""

    passed: bool
    reasons: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)


def gate(
    *,
    parent_base_map50: float | None,
    candidate_base_map50: float | None,
    parent_mistakes: float,
    candidate_mistakes: float,
    max_base_map_loss_pts: float = DEFAULT_MAX_BASE_MAP_LOSS_PTS,
    parent_base_alarms: AlarmMistakes | None = None,
    candidate_base_alarms: AlarmMistakes | None = None,
    rate_bounds: RollbackBounds | None = None,
) -> GateResult:
    """Apply the conditions; mAP values in [0, 1] (None: no base hold-out configured, the
    base conditions are then skipped and say so); mistakes are wrong alarm decisions per
    frame (:attr:`AlarmMistakes.per_frame`); base alarms are both models' decisions on the
    base set where each alarms on the edges (None: that condition is skipped and says so), held to
    the two rate bounds of ``rate_bounds`` (the edges' defaults when None; its window
    fields do not apply to a hold-out set)."""
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
    rates_ok = True
    if parent_base_alarms is None or candidate_base_alarms is None:
        reasons.append("base alarm rates: no base hold-out, not checked")
    else:
        rates_ok, line = _base_rates(
            parent_base_alarms, candidate_base_alarms, rate_bounds or RollbackBounds()
        )
        reasons.append(line)
        for who, alarms in (("parent", parent_base_alarms), ("candidate", candidate_base_alarms)):
            metrics[f"gate/{who}_base_miss_rate"] = alarms.miss_rate
            metrics[f"gate/{who}_base_false_alarm_rate"] = alarms.false_alarm_rate
    return GateResult(base_ok and mistakes_ok and rates_ok, tuple(reasons), metrics)


def _base_rates(
    parent: AlarmMistakes, candidate: AlarmMistakes, bounds: RollbackBounds
) -> tuple[bool, str]:
    """Whether the candidate's base-set rates stay within ``bounds`` of the parent's, and
    the reason line that says so."""
    misses_ok = candidate.miss_rate <= parent.miss_rate + bounds.max_miss_increase
    alarms_ok = (
        candidate.false_alarm_rate <= parent.false_alarm_rate + bounds.max_false_alarm_increase
    )
    problems = [
        problem
        for problem, ok in (("misses too many", misses_ok), ("false alarms too many", alarms_ok))
        if not ok
    ]
    line = (
        f"base alarm rates where each model alarms: miss rate {candidate.miss_rate:.2f} vs "
        f"parent {parent.miss_rate:.2f} (may rise by {bounds.max_miss_increase:.2f}), "
        f"false-alarm rate {candidate.false_alarm_rate:.2f} vs parent "
        f"{parent.false_alarm_rate:.2f} (may rise by {bounds.max_false_alarm_increase:.2f}): "
        f"{', '.join(problems) or 'ok'}"
    )
    return not problems, line
