"""A simulated guard for demos and tests: ground truth + detection in, verdict out.

The guard sees what the simulator published as ground truth (``ScanFrame.ground_truth``)
and reacts to the detector's alarm the way a person would:

* an alarmed object that overlaps a true storage medium is confirmed; one that does not is
  rejected (a false alarm) — except that with ``mistake_rate`` the guard gets it wrong
  (confirms a false alarm or rejects a true one);
* a true medium no alarmed object covers is reported as a missed item when the guard finds
  it in the manual check — with ``miss_rate`` the guard overlooks it too;
* the answer comes after a human-like delay, log-normally distributed around
  ``median_delay_s``.

All randomness comes from one seeded ``random.Random`` per frame, so a replay with the same
seed answers the same way.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass
from typing import Final

from leakguard.classes import CLASS_IDS, is_storage_medium
from schemas.events import DecisionName, Detection, GuardVerdict, LabeledBox
from schemas.geometry import DEFAULT_MIN_IOU, iou
from streams.exceptions import StreamsConfigError

__all__ = ["GuardPolicy", "SimulatedAnswer"]

#: Spread (sigma of the log) of the review delay: most answers within 0.5x-2x the median.
DELAY_LOG_SIGMA: Final[float] = 0.35


@dataclass(frozen=True, slots=True)
class SimulatedAnswer:
    """What the guard says and how long it takes to say it."""

    delay_s: float
    verdict: GuardVerdict


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardPolicy:
    """How the simulated guard behaves; every rate is a probability in ``[0, 1]``."""

    guard_id: str = "sim-guard"
    miss_rate: float = 0.0
    mistake_rate: float = 0.0
    median_delay_s: float = 2.0
    seed: int = 0
    min_iou: float = DEFAULT_MIN_IOU

    def __post_init__(self) -> None:
        for name in ("miss_rate", "mistake_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise StreamsConfigError(f"{name} must be within [0, 1], got {value}")
        if self.median_delay_s < 0:
            raise StreamsConfigError(f"median_delay_s must be >= 0, got {self.median_delay_s}")

    def _rng(self, detection: Detection) -> random.Random:
        frame = f"{detection.checkpoint}/{detection.lane}/{detection.frame_id}".encode()
        return random.Random((self.seed << 32) ^ zlib.crc32(frame))

    def answer(self, detection: Detection, ground_truth: tuple[LabeledBox, ...]) -> SimulatedAnswer:
        """The guard's verdict on ``detection`` given the frame's ground truth."""
        rng = self._rng(detection)
        media = [gt for gt in ground_truth if is_storage_medium(CLASS_IDS[gt.class_name])]
        covered: set[int] = set()
        rejected: list[str] = []
        confirmed = 0
        for obj in detection.objects:
            if not obj.alarmed:
                continue
            hits = [i for i, gt in enumerate(media) if iou(obj.box, gt.box) >= self.min_iou]
            # A mistake flips the guard's call: a true medium rejected, a false alarm confirmed.
            confirm = bool(hits) != (rng.random() < self.mistake_rate)
            covered.update(hits)
            if confirm:
                confirmed += 1
            else:
                rejected.append(obj.object_id)
        missed = tuple(
            gt for i, gt in enumerate(media) if i not in covered and rng.random() >= self.miss_rate
        )
        decision: DecisionName = "confirmed" if confirmed or missed else "cleared"
        delay_s = self.median_delay_s * math.exp(rng.gauss(0.0, DELAY_LOG_SIGMA))
        verdict = GuardVerdict(
            checkpoint=detection.checkpoint,
            lane=detection.lane,
            frame_id=detection.frame_id,
            model_version=detection.model_version,
            detection_event_id=detection.event_id,
            guard_id=self.guard_id,
            decision=decision,
            rejected_object_ids=tuple(rejected),
            missed_items=missed,
        )
        return SimulatedAnswer(delay_s=delay_s, verdict=verdict)
