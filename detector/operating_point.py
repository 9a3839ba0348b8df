"""The alarm threshold a retrained model serves at.

A fine-tune shifts a model's scores: at the edges' threshold a candidate that learnt to score
a new confuser lower often scores everything a little lower or higher too, so it misses more
or alarms more than its parent did at the same threshold. The retrain job therefore
calibrates each candidate on the base hold-out (``retrain.operating_point``): the highest
threshold at which it misses no more media than its parent did. The card records that
:class:`OperatingPoint`, and the card is what the registry signs, so the threshold cannot be
changed without breaking the signature.

An edge applies a model's point only where it runs at the threshold the point was calibrated
for (``edge_threshold``, every medium class alike). An edge configured otherwise keeps its
own thresholds: an operator who chose another operating point, or per-class thresholds,
has decided, and a model must not overrule them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from detector.exceptions import ArtifactError
from leakguard.classes import alarm_thresholds, is_storage_medium

__all__ = ["OperatingPoint", "served_thresholds"]


def _fraction(data: Mapping[str, Any], key: str, *, low_open: bool) -> float:
    value = float(data[key])
    low_ok = value > 0.0 if low_open else value >= 0.0
    if not (low_ok and value <= 1.0):
        raise ArtifactError(f"operating point {key} {value} is outside (0, 1]")
    return value


@dataclass(frozen=True)
class OperatingPoint:
    """``alarm_threshold``: where the model alarms on edges configured at ``edge_threshold``;
    ``miss_rate``: its miss rate there on the base hold-out, at most its parent's."""

    edge_threshold: float
    alarm_threshold: float
    miss_rate: float

    def to_dict(self) -> dict[str, float]:
        """JSON form (part of the signed card)."""
        return {
            "edge_threshold": self.edge_threshold,
            "alarm_threshold": self.alarm_threshold,
            "miss_rate": self.miss_rate,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperatingPoint:
        """Parse a card's point; raises :class:`ArtifactError` for a missing or bad field."""
        try:
            return cls(
                edge_threshold=_fraction(data, "edge_threshold", low_open=True),
                alarm_threshold=_fraction(data, "alarm_threshold", low_open=True),
                miss_rate=_fraction(data, "miss_rate", low_open=False),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"malformed operating point: {exc}") from exc


def served_thresholds(
    point: OperatingPoint | None, configured: Mapping[int, float]
) -> Mapping[int, float]:
    """The thresholds a model with ``point`` alarms at on an edge ``configured`` so: the
    model's own where every medium class is configured at the point's ``edge_threshold``,
    else ``configured`` unchanged."""
    media = [value for class_id, value in configured.items() if is_storage_medium(class_id)]
    if point is None or not media:
        return configured
    if not all(math.isclose(value, point.edge_threshold) for value in media):
        return configured
    return alarm_thresholds(point.alarm_threshold)
