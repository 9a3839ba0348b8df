"""Live error rates per model version from ``outcomes``, and the rollback decision (pure).

Part of the rollout contract: every edge enforces these bounds on the models it serves, and
the retrain gate judges candidates by the same rates, so both roles read them from here.

A guard's verdict turns every alarm into a true or false positive and every missed item into
a false negative (``streams.logic.outcomes``). Per model version the monitor keeps the last
``window`` reviewed outcomes and derives two rates:

* false-alarm rate = fp / (tp + fp): the share of alarms the guards rejected;
* miss rate = fn / (tp + fn): the share of storage media the model did not alarm on.

A newly served model (canary or active) is rolled back when, once it has at least
``min_outcomes`` reviewed outcomes, either rate exceeds the baseline model's by more than its
bound *with confidence* ``confidence``: the one-sided lower confidence bound of the rise
(Newcombe's hybrid score interval for a difference of two proportions, built from each
rate's Wilson interval) must be above the bound. A point comparison would roll back on
noise: a canary sees a few dozen media, and 8 misses in 42 against a baseline's 56 in 408
is a rise of 0.05 whose 90 % interval runs from -0.03 to +0.17. A baseline with no reviewed
outcome gives no evidence that the new model is worse, so it is never rolled back on that
rate alone (an operator still can: ``leakguard models rollback``). Unreviewed outcomes say
nothing about either rate and are ignored.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

from schemas.events import Outcome, OutcomeKindName
from schemas.exceptions import RollbackBoundsError

__all__ = [
    "DEFAULT_MAX_FALSE_ALARM_INCREASE",
    "DEFAULT_MAX_MISS_INCREASE",
    "DEFAULT_MIN_OUTCOMES",
    "DEFAULT_ROLLBACK_CONFIDENCE",
    "DEFAULT_WINDOW_OUTCOMES",
    "OutcomeWindows",
    "Rates",
    "RollbackBounds",
    "rate_rise_lower_bound",
    "rollback_reason",
    "wilson_interval",
]

#: Reviewed outcomes per version kept: a few hours of one lane, enough for stable rates.
DEFAULT_WINDOW_OUTCOMES: Final[int] = 500
#: Outcomes a new model needs before it is judged: fewer would roll back on noise.
DEFAULT_MIN_OUTCOMES: Final[int] = 50
#: Ten more rejected alarms in a hundred is a worse model, not chance, at 50+ outcomes.
DEFAULT_MAX_FALSE_ALARM_INCREASE: Final[float] = 0.10
#: A miss lets a storage medium out: the bound on misses is tighter than on false alarms.
DEFAULT_MAX_MISS_INCREASE: Final[float] = 0.05
#: One-sided: a model rolled back on this evidence is worse beyond its bound 19 times in 20.
DEFAULT_ROLLBACK_CONFIDENCE: Final[float] = 0.95
_REVIEWED: Final[frozenset[OutcomeKindName]] = frozenset({"tp", "fp", "fn"})


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackBounds:
    """When a new model is rolled back; see the module docstring."""

    window_outcomes: int = DEFAULT_WINDOW_OUTCOMES
    min_outcomes: int = DEFAULT_MIN_OUTCOMES
    max_false_alarm_increase: float = DEFAULT_MAX_FALSE_ALARM_INCREASE
    max_miss_increase: float = DEFAULT_MAX_MISS_INCREASE
    confidence: float = DEFAULT_ROLLBACK_CONFIDENCE

    def __post_init__(self) -> None:
        if not 1 <= self.min_outcomes <= self.window_outcomes:
            raise RollbackBoundsError("rollback bounds need 1 <= min_outcomes <= window_outcomes")
        if self.max_false_alarm_increase < 0 or self.max_miss_increase < 0:
            raise RollbackBoundsError("rollback rate bounds must be >= 0")
        if not 0.5 <= self.confidence < 1:
            raise RollbackBoundsError("rollback confidence must be in [0.5, 1)")


@dataclass(frozen=True, slots=True)
class Rates:
    """Reviewed outcome counts of one version in the window; the rates are derived, so a
    decision can weigh how many outcomes each rate rests on."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def reviewed(self) -> int:
        """Reviewed outcomes counted."""
        return self.tp + self.fp + self.fn

    @property
    def false_alarm_rate(self) -> float:
        """fp / (tp + fp); 0 without alarms."""
        return _rate(self.fp, self.tp)

    @property
    def miss_rate(self) -> float:
        """fn / (tp + fn); 0 without media."""
        return _rate(self.fn, self.tp)


def _rate(bad: int, good: int) -> float:
    return bad / (bad + good) if bad + good else 0.0


def wilson_interval(bad: int, total: int, *, z: float) -> tuple[float, float]:
    """Wilson score interval of the proportion ``bad / total`` at normal quantile ``z``;
    (0, 1) for no observation. Unlike the normal approximation it stays inside [0, 1] and
    is not degenerate at 0 or ``total`` bad, which small canary counts often are."""
    if total == 0:
        return 0.0, 1.0
    p = bad / total
    scale = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / scale
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_rise_lower_bound(
    new_bad: int, new_total: int, old_bad: int, old_total: int, *, confidence: float
) -> float:
    """One-sided lower confidence bound of ``new_bad/new_total - old_bad/old_total``
    (Newcombe's hybrid score interval, his method 10: good coverage at small counts)."""
    z = NormalDist().inv_cdf(confidence)
    new_rate = new_bad / new_total if new_total else 0.0
    old_rate = old_bad / old_total if old_total else 0.0
    new_low, _ = wilson_interval(new_bad, new_total, z=z)
    _, old_high = wilson_interval(old_bad, old_total, z=z)
    return new_rate - old_rate - math.hypot(new_rate - new_low, old_high - old_rate)


class OutcomeWindows:
    """The last ``window`` reviewed outcome kinds of each model version (not thread-safe:
    one consumer thread feeds it)."""

    def __init__(self, *, window: int = DEFAULT_WINDOW_OUTCOMES) -> None:
        self._window = window
        self._kinds: dict[str, deque[OutcomeKindName]] = {}

    def add(self, outcome: Outcome) -> None:
        """Count ``outcome`` for its model version, if it was reviewed."""
        if outcome.kind in _REVIEWED:
            kinds = self._kinds.setdefault(outcome.model_version, deque(maxlen=self._window))
            kinds.append(outcome.kind)

    def rates(self, version: str) -> Rates:
        """The rates of ``version`` over its window (zero counts: all rates 0)."""
        kinds = self._kinds.get(version, deque())
        tp, fp, fn = (sum(1 for k in kinds if k == kind) for kind in ("tp", "fp", "fn"))
        return Rates(tp=tp, fp=fp, fn=fn)

    def forget(self, version: str) -> None:
        """Drop a version's window (a re-activated model starts a fresh judgement)."""
        self._kinds.pop(version, None)


def _rise(
    name: str, new: tuple[int, int], old: tuple[int, int], bound: float, confidence: float
) -> str | None:
    """Why the rate (bad, total) of the new model rose beyond ``bound``, or None."""
    low = rate_rise_lower_bound(*new, *old, confidence=confidence)
    if low <= bound:  # always so where either total is 0: no evidence
        return None
    return (
        f"{name} {new[0] / new[1]:.2f} ({new[0]} of {new[1]}) exceeds the previous model's "
        f"{old[0] / old[1]:.2f} ({old[0]} of {old[1]}) by more than {bound:.2f} at "
        f"{confidence:.0%} confidence (rise at least {low:.2f})"
    )


def rollback_reason(new: Rates, baseline: Rates, bounds: RollbackBounds) -> str | None:
    """Why the new model must be rolled back, or None while it is within bounds."""
    if new.reviewed < bounds.min_outcomes:
        return None
    alarms = _rise(
        "false-alarm rate",
        (new.fp, new.tp + new.fp),
        (baseline.fp, baseline.tp + baseline.fp),
        bounds.max_false_alarm_increase,
        bounds.confidence,
    )
    return alarms or _rise(
        "miss rate",
        (new.fn, new.tp + new.fn),
        (baseline.fn, baseline.tp + baseline.fn),
        bounds.max_miss_increase,
        bounds.confidence,
    )
