"""What an edge should run, folded from the ``model.updates`` history (pure, no Kafka).

``model.updates`` is kept forever and has one partition, so an edge that starts (or
restarts) replays the whole rollout history in order. Loading every historical model would
waste minutes; :func:`fold` reduces the history to the :class:`RolloutPlan` it amounts to —
the model that should be active and, at most, one trial model (shadow or canary) — and the
manager loads only those. Live updates go through the same :func:`apply`, so the replayed
and the live paths cannot disagree.

Scope: a worker serves one checkpoint (``checkpoint``) or, when that is None, every
checkpoint whose frames it receives. An update applies when its targets are empty, name the
worker's checkpoint, or the worker serves every checkpoint; canary and shadow models then
run only on the frames their targets match (:func:`targets_match`), and an active model
serves all of the worker's frames.

Versions in ``skip`` (refused or rolled back on this worker) are folded as if they had never
been announced, so the model they displaced stays in the plan.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from schemas.events import ModelUpdate, RolloutTarget

__all__ = ["RolloutPlan", "applies_to", "apply", "fold", "targets_match"]


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    """The updates an edge should follow: the active model's, and a trial's (or None)."""

    active: ModelUpdate | None = None
    trial: ModelUpdate | None = None


def targets_match(targets: Sequence[RolloutTarget], *, checkpoint: str, lane: str) -> bool:
    """Whether a frame of ``checkpoint``/``lane`` is among ``targets`` (empty: every frame)."""
    if not targets:
        return True
    return any(t.checkpoint == checkpoint and t.lane in (None, lane) for t in targets)


def applies_to(update: ModelUpdate, checkpoint: str | None) -> bool:
    """Whether a worker serving ``checkpoint`` (None: every checkpoint) must follow ``update``."""
    if checkpoint is None or not update.targets:
        return True
    return any(t.checkpoint == checkpoint for t in update.targets)


def apply(
    plan: RolloutPlan,
    update: ModelUpdate,
    *,
    checkpoint: str | None,
    skip: Collection[str] = (),
) -> RolloutPlan:
    """The plan after ``update``: an activation ends the trial of the same version; a trial
    replaces the previous trial; an update for another checkpoint, or of a version in
    ``skip``, changes nothing."""
    if not applies_to(update, checkpoint) or update.model_version in skip:
        return plan
    if update.rollout_mode == "active":
        trial = plan.trial
        if trial is not None and trial.model_version == update.model_version:
            trial = None
        return RolloutPlan(active=update, trial=trial)
    if plan.active is not None and plan.active.model_version == update.model_version:
        return plan  # a demotion of the serving model to a trial is not a rollout step
    return RolloutPlan(active=plan.active, trial=update)


def fold(
    updates: Iterable[ModelUpdate], *, checkpoint: str | None, skip: Collection[str] = ()
) -> RolloutPlan:
    """The plan a whole history of updates amounts to, in order, without ``skip``."""
    plan = RolloutPlan()
    for update in updates:
        plan = apply(plan, update, checkpoint=checkpoint, skip=skip)
    return plan
