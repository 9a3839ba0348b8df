"""One retrain cycle: freeze the pending frames, train in a child process, gate, register,
roll out — and when a cycle is due.

A cycle is due when ``trigger_samples`` new frames are pending, or when any are pending and
``schedule_s`` has passed since the last cycle; ``leakguard retrain run`` starts one at once.
The job fine-tunes the active model on the new frames (weighted ``new_sample_weight`` times)
plus a replay of every earlier set and of ``replay_dirs`` (the base training data), so the
model learns the new mistakes without forgetting the old task. The candidate is registered
either way (an audit trail of rejected candidates is worth its disk); one that passed the
gate gets ``auto_rollout`` (default ``shadow``), one that failed is marked ``rejected``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from leakguard.classes import DEFAULT_ALARM_THRESHOLD
from retrain.exceptions import RegistryError, RetrainConfigError
from retrain.job import JobProcess, JobResult, JobSpec
from retrain.registry import GATE, ModelRecord, Registry
from retrain.trainset import FrozenSet, TrainingSetStore
from schemas.rollback import DEFAULT_MAX_FALSE_ALARM_INCREASE, DEFAULT_MAX_MISS_INCREASE

__all__ = ["Cycle", "CycleResult", "RetrainConfig", "Retrainer"]

logger = logging.getLogger(__name__)

AutoRollout = Literal["none", "shadow", "canary", "active"]
TRAINSETS_DIR: Final[str] = "trainsets"
JOBS_DIR: Final[str] = "jobs"


@dataclass(frozen=True, kw_only=True)
class RetrainConfig:
    """Options of the retrain cycle (``LEAKGUARD_RETRAIN__*`` in the settings)."""

    workdir: Path
    trigger_samples: int = 200
    schedule_s: float = 86_400.0
    base_holdout_dir: Path | None = None
    replay_dirs: tuple[Path, ...] = ()
    #: New frames are few next to the replayed data; counting them twice keeps them heard.
    new_sample_weight: int = 2
    steps: int = 300
    batch_size: int = 4
    lr: float = 1e-4
    device: str = "cpu"
    max_base_map_loss_pts: float = 0.5
    auto_rollout: AutoRollout = "shadow"
    #: The edges' alarm threshold, at which the gate counts wrong alarm decisions.
    alarm_threshold: float = DEFAULT_ALARM_THRESHOLD
    #: The edges' rollback bounds, within which the gate keeps the base-set rates.
    max_miss_rate_rise: float = DEFAULT_MAX_MISS_INCREASE
    max_false_alarm_rate_rise: float = DEFAULT_MAX_FALSE_ALARM_INCREASE

    def __post_init__(self) -> None:
        if self.trigger_samples < 1 or self.schedule_s <= 0 or self.new_sample_weight < 1:
            raise RetrainConfigError(
                "trigger_samples and new_sample_weight must be >= 1, schedule_s > 0"
            )
        if not 0.0 < self.alarm_threshold <= 1.0:
            raise RetrainConfigError(
                f"alarm_threshold must be in (0, 1], got {self.alarm_threshold}"
            )


@dataclass
class Cycle:
    """A running cycle: its job, the model it fine-tunes and the set it trains on."""

    job: JobProcess
    parent: ModelRecord
    training_set: FrozenSet


@dataclass(frozen=True)
class CycleResult:
    """What a cycle produced: the registered candidate and the gate's verdict."""

    record: ModelRecord
    job: JobResult


class Retrainer:
    """Decides when to retrain and carries a cycle through; one per retrain consumer."""

    def __init__(
        self,
        *,
        config: RetrainConfig,
        registry: Registry,
        store: TrainingSetStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.registry = registry
        self.store = (
            store if store is not None else TrainingSetStore(config.workdir / TRAINSETS_DIR)
        )
        self._clock = clock
        self._last_cycle_s = clock()

    def due(self) -> str | None:
        """Why a cycle should start now (``count`` or ``schedule``), or None."""
        pending = self.store.pending_count()
        if pending >= self.config.trigger_samples:
            return "count"
        if pending and self._clock() - self._last_cycle_s >= self.config.schedule_s:
            return "schedule"
        return None

    def start(self) -> Cycle:
        """Freeze the pending frames and start the job in a child process."""
        parent = self.registry.active()
        if parent is None:
            raise RegistryError(
                "no active model to fine-tune: `leakguard models register --activate`"
            )
        frozen = self.store.freeze()
        earlier = [s.train_dir for s in self.store.sets() if s.name != frozen.name]
        train_dirs = [frozen.train_dir] * self.config.new_sample_weight
        train_dirs += earlier + list(self.config.replay_dirs)
        spec = JobSpec(
            parent_artifact=str(self.registry.artifact_dir(parent.version)),
            train_dirs=tuple(str(d) for d in train_dirs),
            mistakes_dir=str(frozen.holdout_dir),
            job_dir=str(self.config.workdir / JOBS_DIR / frozen.name),
            base_holdout_dir=None
            if self.config.base_holdout_dir is None
            else str(self.config.base_holdout_dir),
            steps=self.config.steps,
            batch_size=self.config.batch_size,
            lr=self.config.lr,
            device=self.config.device,
            max_base_map_loss_pts=self.config.max_base_map_loss_pts,
            alarm_threshold=self.config.alarm_threshold,
            max_miss_rate_rise=self.config.max_miss_rate_rise,
            max_false_alarm_rate_rise=self.config.max_false_alarm_rate_rise,
        )
        self._last_cycle_s = self._clock()
        logger.info(
            "retraining %s on %s (%d new frames, %d held out)",
            parent.version,
            frozen.name,
            frozen.train_images,
            frozen.holdout_images,
        )
        return Cycle(JobProcess(spec).start(), parent, frozen)

    def finish(self, cycle: Cycle) -> CycleResult:
        """Wait for the job, register its candidate, then reject it or roll it out."""
        result = cycle.job.wait()
        record = self.registry.register(
            Path(result.artifact_dir),
            parent=cycle.parent.version,
            training_set=cycle.training_set.name,
            metrics=result.metrics,
            reason="; ".join(result.reasons),
        )
        if not result.passed:
            record = self.registry.reject(
                record.version, reason="; ".join(result.reasons), decided_by=GATE
            )
        elif self.config.auto_rollout != "none":
            self.registry.promote(
                record.version,
                mode=self.config.auto_rollout,
                reason="passed: " + "; ".join(result.reasons),
                decided_by=GATE,
            )
            record = self.registry.get(record.version)
        logger.info("candidate %s: %s", record.version, record.state)
        return CycleResult(record, result)

    def run_once(self) -> CycleResult:
        """Start a cycle and wait for it (``leakguard retrain run``)."""
        return self.finish(self.start())
