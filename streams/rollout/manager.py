"""The edge model manager: follows ``model.updates``, judges live outcomes, swaps engines.

Kafka-free core (the consumer loop is :mod:`streams.rollout.kafka`); it runs on one thread,
off the event loop and off the inference thread, so a model loads in the background while
the current one keeps serving. For every update that applies to this worker
(:mod:`streams.rollout.state`):

* fetch, verify and load the model (:func:`streams.rollout.fetch.load_update`); a refused
  model is reported in a ``ModelStatus`` with state ``rejected`` and the reason, and
  nothing changes for the frames;
* build the engine of the new state — the active model alone, or with a shadow or canary
  trial (:class:`streams.rollout.engine.RolloutEngine`) — and hand it to
  :meth:`streams.detect.FrameDetector.swap_engine`, atomic between two batches, so no frame
  is lost or detected twice;
* report the new state in a ``ModelStatus``; while a trial runs, report its agreement with
  the active model every ``status_interval_s``.

A model that starts serving (canary, or active after a promotion) is judged against the model
it displaced on live outcomes (:mod:`schemas.rollback`); beyond the bounds it is
rolled back by itself — the displaced model serves again — and the ``ModelStatus`` says so.
A version refused here is not applied again until the registry decides on it again; one
rolled back here is never applied again by this worker; rollbacks are remembered across
restarts (:mod:`streams.rollout.memory`), so replaying ``model.updates``
at start never brings a rolled-back model back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from schemas.events import ModelStateName, ModelStatus, ModelUpdate, Outcome
from schemas.rollback import OutcomeWindows, rollback_reason
from streams.detect import Engine, FrameDetector
from streams.exceptions import ModelRefusedError
from streams.rollout.config import RolloutConfig
from streams.rollout.engine import Agreement, RolloutEngine
from streams.rollout.memory import ROLLED_BACK_FILE, RolledBackVersions
from streams.rollout.state import fold

__all__ = ["ALL_CHECKPOINTS", "ModelManager", "cache_path", "rolled_back_memory"]

logger = logging.getLogger(__name__)

#: ``ModelStatus.checkpoint`` of a worker that serves every checkpoint it receives frames of.
ALL_CHECKPOINTS = "*"


@dataclass(frozen=True, slots=True)
class _Trial:
    update: ModelUpdate
    engine: Engine
    agreement: Agreement


Loader = Callable[[ModelUpdate], Engine]
Publisher = Callable[[ModelStatus], None]


class ModelManager:
    """Rollout state of one edge worker; see the module docstring. Not thread-safe: one
    thread calls :meth:`catch_up`, :meth:`on_update`, :meth:`on_outcomes` and :meth:`tick`."""

    def __init__(
        self,
        *,
        detector: FrameDetector,
        config: RolloutConfig,
        worker_id: str,
        load: Loader,
        publish: Publisher,
        rolled_back: RolledBackVersions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._detector = detector
        self._config = config
        self._worker_id = worker_id
        self._load = load
        self._publish = publish
        self._clock = clock
        self._active: Engine = detector.engine
        self._displaced: Engine | None = None
        self._trial: _Trial | None = None
        self._judged: tuple[str, str] | None = None  # (new version, baseline version)
        self._history: list[ModelUpdate] = []
        self._windows = OutcomeWindows(window=config.bounds.window_outcomes)
        self._refused: set[str] = set()
        self._rolled_back = rolled_back if rolled_back is not None else RolledBackVersions(None)
        self._next_report = clock() + config.status_interval_s

    @property
    def active_version(self) -> str:
        """The version serving alarms now."""
        return self._active.model_version

    @property
    def trial_version(self) -> str | None:
        """The shadow or canary version, if one runs."""
        return None if self._trial is None else self._trial.update.model_version

    def catch_up(self, history: Iterable[ModelUpdate]) -> None:
        """Apply the plan the replayed history amounts to (loads at most two models)."""
        self._history = list(history)
        self._follow()

    def on_update(self, update: ModelUpdate) -> None:
        """Apply one live update. A new decision for a version this worker refused earlier
        (its store was unreachable, say) is a request to try again: the refusal is
        forgotten; a rollback is not (it judged the model, not the fetch)."""
        self._history.append(update)
        self._refused.discard(update.model_version)
        self._follow()

    def _follow(self) -> None:
        # The whole history is folded again (it is short): a version refused or rolled back
        # since the last update drops out and the model it displaced comes back into the plan.
        skip = self._refused | self._rolled_back.versions()
        plan = fold(self._history, checkpoint=self._config.checkpoint, skip=skip)
        active = plan.active
        if active is not None and active.model_version != self.active_version:
            engine = self._engine_for(active)
            if engine is not None:
                self._activate(engine)
        self._set_trial(plan.trial)
        self._swap()

    def _engine_for(self, update: ModelUpdate) -> Engine | None:
        version = update.model_version
        if version in self._refused or version in self._rolled_back:
            return None
        if self._trial is not None and self._trial.update.model_version == version:
            return self._trial.engine  # promoting the trial: it is loaded already
        try:
            return self._load(update)
        except ModelRefusedError as exc:
            logger.warning("model %s refused: %s", version, exc)
            self._refused.add(version)
            self._report(version, "rejected", error=f"refused: {exc}")
            return None

    def _activate(self, engine: Engine) -> None:
        previous = self._active
        self._displaced, self._active = previous, engine
        self._windows.forget(engine.model_version)
        self._judged = (engine.model_version, previous.model_version)
        self._report(engine.model_version, "active")

    def _set_trial(self, update: ModelUpdate | None) -> None:
        current = self._trial
        if update is None or update.model_version == self.active_version:
            self._trial = None
            return
        if current is not None and current.update == update:
            return
        engine = self._engine_for(update)
        if engine is None:
            return
        self._trial = _Trial(update, engine, Agreement())
        if update.rollout_mode == "canary":
            self._windows.forget(update.model_version)
            self._judged = (update.model_version, self.active_version)
        self._report(update.model_version, update.rollout_mode)

    def _swap(self) -> None:
        trial = self._trial
        engine: Engine = self._active
        if trial is not None:
            engine = RolloutEngine(
                active=self._active,
                trial=trial.engine,
                mode="canary" if trial.update.rollout_mode == "canary" else "shadow",
                targets=trial.update.targets,
                agreement=trial.agreement,
            )
        self._detector.swap_engine(engine)

    def on_outcomes(self, outcomes: Iterable[Outcome]) -> None:
        """Count live outcomes; roll the judged model back when it broke its bounds."""
        for outcome in outcomes:
            self._windows.add(outcome)
        if self._judged is None:
            return
        new, baseline = self._judged
        reason = rollback_reason(
            self._windows.rates(new), self._windows.rates(baseline), self._config.bounds
        )
        if reason is not None:
            self._roll_back(new, reason)

    def _roll_back(self, version: str, reason: str) -> None:
        logger.warning("rolling back model %s: %s", version, reason)
        self._rolled_back.add(version, reason)
        self._judged = None
        if self._trial is not None and self._trial.update.model_version == version:
            self._trial = None
        elif self.active_version == version and self._displaced is not None:
            self._active, self._displaced = self._displaced, None
        self._swap()
        self._report(version, "rejected", error=reason, rolled_back=True)

    def tick(self) -> None:
        """Report a running trial's agreement when ``status_interval_s`` has passed."""
        now = self._clock()
        if now < self._next_report:
            return
        self._next_report = now + self._config.status_interval_s
        trial = self._trial
        if trial is not None:
            self._report(
                trial.update.model_version,
                trial.update.rollout_mode,
                agreement=trial.agreement.rate(),
            )

    def _report(
        self,
        version: str,
        state: ModelStateName,
        *,
        error: str | None = None,
        agreement: float | None = None,
        rolled_back: bool = False,
    ) -> None:
        trial = self._trial
        shadow = (
            trial.update.model_version if trial and trial.update.rollout_mode == "shadow" else None
        )
        self._publish(
            ModelStatus(
                checkpoint=self._config.checkpoint or ALL_CHECKPOINTS,
                worker_id=self._worker_id,
                model_version=version,
                state=state,
                active_version=self.active_version,
                shadow_version=shadow,
                error=error,
                agreement_rate=agreement,
                rolled_back=rolled_back,
            )
        )


def cache_path(config: RolloutConfig) -> Path:
    """The artifact cache directory of ``config``, created."""
    path = Path(config.cache_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def rolled_back_memory(config: RolloutConfig) -> RolledBackVersions:
    """The rolled-back versions remembered in ``config``'s cache directory."""
    return RolledBackVersions(cache_path(config) / ROLLED_BACK_FILE)
