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
bound. Unreviewed outcomes say nothing about either rate and are ignored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from schemas.events import Outcome, OutcomeKindName
from schemas.exceptions import RollbackBoundsError

__all__ = [
    "DEFAULT_MAX_FALSE_ALARM_INCREASE",
    "DEFAULT_MAX_MISS_INCREASE",
    "DEFAULT_MIN_OUTCOMES",
    "DEFAULT_WINDOW_OUTCOMES",
    "OutcomeWindows",
    "Rates",
    "RollbackBounds",
    "rollback_reason",
]

#: Reviewed outcomes per version kept: a few hours of one lane, enough for stable rates.
DEFAULT_WINDOW_OUTCOMES: Final[int] = 500
#: Outcomes a new model needs before it is judged: fewer would roll back on noise.
DEFAULT_MIN_OUTCOMES: Final[int] = 50
#: Ten more rejected alarms in a hundred is a worse model, not chance, at 50+ outcomes.
DEFAULT_MAX_FALSE_ALARM_INCREASE: Final[float] = 0.10
#: A miss lets a storage medium out: the bound on misses is tighter than on false alarms.
DEFAULT_MAX_MISS_INCREASE: Final[float] = 0.05
_REVIEWED: Final[frozenset[OutcomeKindName]] = frozenset({"tp", "fp", "fn"})


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackBounds:
    """When a new model is rolled back; see the module docstring."""

    window_outcomes: int = DEFAULT_WINDOW_OUTCOMES
    min_outcomes: int = DEFAULT_MIN_OUTCOMES
    max_false_alarm_increase: float = DEFAULT_MAX_FALSE_ALARM_INCREASE
    max_miss_increase: float = DEFAULT_MAX_MISS_INCREASE

    def __post_init__(self) -> None:
        if not 1 <= self.min_outcomes <= self.window_outcomes:
            raise RollbackBoundsError("rollback bounds need 1 <= min_outcomes <= window_outcomes")
        if self.max_false_alarm_increase < 0 or self.max_miss_increase < 0:
            raise RollbackBoundsError("rollback rate bounds must be >= 0")


@dataclass(frozen=True, slots=True)
class Rates:
    """Reviewed outcomes of one version in the window, and its two error rates in [0, 1]."""

    reviewed: int
    false_alarm_rate: float
    miss_rate: float


def _rate(bad: int, good: int) -> float:
    return bad / (bad + good) if bad + good else 0.0


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
        return Rates(len(kinds), _rate(fp, tp), _rate(fn, tp))

    def forget(self, version: str) -> None:
        """Drop a version's window (a re-activated model starts a fresh judgement)."""
        self._kinds.pop(version, None)


def rollback_reason(new: Rates, baseline: Rates, bounds: RollbackBounds) -> str | None:
    """Why the new model must be rolled back, or None while it is within bounds."""
    if new.reviewed < bounds.min_outcomes:
        return None
    if new.false_alarm_rate > baseline.false_alarm_rate + bounds.max_false_alarm_increase:
        return (
            f"false-alarm rate {new.false_alarm_rate:.2f} over {new.reviewed} outcomes exceeds "
            f"the previous model's {baseline.false_alarm_rate:.2f} "
            f"by more than {bounds.max_false_alarm_increase:.2f}"
        )
    if new.miss_rate > baseline.miss_rate + bounds.max_miss_increase:
        return (
            f"miss rate {new.miss_rate:.2f} over {new.reviewed} outcomes exceeds the previous "
            f"model's {baseline.miss_rate:.2f} by more than {bounds.max_miss_increase:.2f}"
        )
    return None
