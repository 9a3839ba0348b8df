"""The engine an edge runs during a rollout: the active model plus, at most, one trial.

* shadow: both models see every targeted frame; only the active model's detections are
  produced (only it alarms); whether the two agreed is counted.
* canary: the trial model serves the targeted frames (its detections are produced, stamped
  with its version, so outcomes are attributed to it); the active model still runs on them
  for the agreement figure, and serves every other frame.

Agreement is per frame: both models alarm, or both stay quiet. A
:class:`RolloutEngine` is immutable; the model manager builds a new one for each state and
hands it to :meth:`streams.detect.FrameDetector.swap_engine`, which makes the switch atomic
between two batches.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Literal

import numpy as np

from detector.engine import DetectedObject as EngineObject
from schemas.events import RolloutTarget, ScanFrame
from streams.detect import Engine
from streams.rollout.state import targets_match

__all__ = ["Agreement", "RolloutEngine", "TrialMode"]

TrialMode = Literal["shadow", "canary"]


class Agreement:
    """Thread-safe count of frames where the trial and the active model agreed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames = 0
        self.agreed = 0

    def add(self, *, frames: int, agreed: int) -> None:
        """Count one batch's comparisons."""
        with self._lock:
            self.frames += frames
            self.agreed += agreed

    def rate(self) -> float | None:
        """Agreed share in [0, 1]; None before any comparison."""
        with self._lock:
            return self.agreed / self.frames if self.frames else None


def _alarmed(objects: Sequence[EngineObject]) -> bool:
    return any(obj.alarmed for obj in objects)


class RolloutEngine:
    """Active engine, optional trial engine in ``mode`` on ``targets``; see the module doc."""

    def __init__(
        self,
        *,
        active: Engine,
        trial: Engine | None = None,
        mode: TrialMode = "shadow",
        targets: Sequence[RolloutTarget] = (),
        agreement: Agreement | None = None,
    ) -> None:
        self.active = active
        self.trial = trial
        self.mode = mode
        self.targets = tuple(targets)
        self.agreement = agreement if agreement is not None else Agreement()

    @property
    def model_version(self) -> str:
        """The active model's version (the one that alarms outside canary lanes)."""
        return self.active.model_version

    def predict(self, images: Sequence[np.ndarray]) -> list[list[EngineObject]]:
        """The active model's detections (the plain :class:`~streams.detect.Engine` path)."""
        return self.active.predict(images)

    def predict_frames(
        self, frames: Sequence[ScanFrame], images: Sequence[np.ndarray]
    ) -> list[tuple[str, list[EngineObject]]]:
        """``(version, detections)`` per frame: the active model's, or the canary's on its
        targets; the trial also runs on targeted frames in shadow mode, for agreement."""
        active = self.active.predict(images)
        served = [(self.active.model_version, objects) for objects in active]
        if self.trial is None:
            return served
        picked = [
            i
            for i, frame in enumerate(frames)
            if targets_match(self.targets, checkpoint=frame.checkpoint, lane=frame.lane)
        ]
        if not picked:
            return served
        trial = self.trial.predict([images[i] for i in picked])
        agreed = sum(
            _alarmed(active[i]) == _alarmed(objects)
            for i, objects in zip(picked, trial, strict=True)
        )
        self.agreement.add(frames=len(picked), agreed=agreed)
        if self.mode == "canary":
            for i, objects in zip(picked, trial, strict=True):
                served[i] = (self.trial.model_version, objects)
        return served
