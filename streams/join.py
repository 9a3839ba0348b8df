"""The outcome join's state machine, without Kafka: what to remember about one frame and
when to resolve it.

The cloud keeps one :class:`~streams.join_state.FrameEntry` per frame in a Faust table
(changelogged, so a restarted worker recovers it). Detection and verdict may arrive in
either order; the second one resolves the frame. A tick (the review deadline check)
resolves a frame that has a detection but no verdict after ``unreviewed_after_s`` as
unreviewed, and forgets resolved frames after ``resolved_retention_s``. A resolved entry
keeps only ``done`` and ``at``: a replayed detection or verdict of that frame then resolves
nothing (no duplicate outcomes), and a verdict arriving after the frame went unreviewed is
ignored rather than contradicting it.

A threat image projection frame (``Detection.tip``) resolves the same way but to a
``TipResult`` and no outcomes: a projected medium is a test of the guard, and must never
reach the alerts, the training data or the detector's statistics (#20).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from schemas.codec import Codec
from schemas.events import Detection, GuardVerdict, Outcome, TipResult
from schemas.geometry import DEFAULT_MIN_IOU
from streams.join_state import FrameEntry
from streams.logic.outcomes import match_outcomes, unreviewed_outcomes
from streams.logic.tip import tip_result

__all__ = ["JoinStep", "Resolution", "is_due", "on_event", "on_tick"]

Note = Literal["stored", "resolved", "duplicate", "late_verdict", "expired", "forgotten", "none"]


@dataclass(frozen=True, slots=True)
class Resolution:
    """A resolved frame: its detection, its verdict (``None`` if unreviewed), its outcomes;
    for a TIP frame no outcomes and its ``tip`` result instead."""

    detection: Detection
    verdict: GuardVerdict | None
    outcomes: list[Outcome]
    tip: TipResult | None = None


@dataclass(frozen=True, slots=True)
class JoinStep:
    """What to do after an event: the new entry (``None``: delete it), and a resolution."""

    state: FrameEntry | None
    resolution: Resolution | None
    note: Note


def on_event(
    state: FrameEntry | None,
    event: Detection | GuardVerdict,
    raw: bytes,
    *,
    now: float,
    codec: Codec,
    min_iou: float = DEFAULT_MIN_IOU,
) -> JoinStep:
    """Remember a detection or verdict (``raw`` is its encoded form); resolve when both are in."""
    if state is not None and state.done is not None:
        late = isinstance(event, GuardVerdict) and state.done == "unreviewed"
        return JoinStep(state, None, "late_verdict" if late else "duplicate")
    if isinstance(event, Detection):
        if state is None or state.verdict is None:
            seen = now if state is None else state.seen
            return JoinStep(FrameEntry(seen=seen, detection=raw), None, "stored")
        detection, verdict = event, codec.decode(state.verdict, GuardVerdict)
    else:
        if state is None or state.detection is None:
            seen = now if state is None else state.seen
            return JoinStep(FrameEntry(seen=seen, verdict=raw), None, "stored")
        detection, verdict = codec.decode(state.detection, Detection), event
    if detection.tip is not None:
        resolution = Resolution(
            detection, verdict, [], tip_result(detection, verdict, event_time=verdict.event_time)
        )
    else:
        resolution = Resolution(
            detection, verdict, match_outcomes(detection, verdict, min_iou=min_iou)
        )
    return JoinStep(FrameEntry.resolved("reviewed", now), resolution, "resolved")


def on_tick(
    state: FrameEntry | None,
    *,
    now: float,
    unreviewed_after_s: float,
    resolved_retention_s: float,
    codec: Codec,
) -> JoinStep:
    """The deadline check for one frame: expire it as unreviewed, or forget it when old."""
    if state is None:
        return JoinStep(None, None, "none")
    if state.done is not None:
        if now - _resolved_at(state) >= resolved_retention_s:
            return JoinStep(None, None, "forgotten")
        return JoinStep(state, None, "none")
    if state.detection is None:  # a verdict whose detection never came: forget it in time
        stale = now - state.seen >= resolved_retention_s
        return JoinStep(None if stale else state, None, "forgotten" if stale else "none")
    if now - state.seen < unreviewed_after_s:
        return JoinStep(state, None, "none")
    detection = codec.decode(state.detection, Detection)
    when = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
    if detection.tip is not None:
        resolution = Resolution(detection, None, [], tip_result(detection, None, event_time=when))
    else:
        resolution = Resolution(detection, None, unreviewed_outcomes(detection, event_time=when))
    return JoinStep(FrameEntry.resolved("unreviewed", now), resolution, "expired")


def is_due(
    state: FrameEntry, *, now: float, unreviewed_after_s: float, resolved_retention_s: float
) -> bool:
    """Whether a tick would change this entry (so the deadline check sends one)."""
    if state.done is not None:
        return now - _resolved_at(state) >= resolved_retention_s
    if state.detection is None:
        return now - state.seen >= resolved_retention_s
    return now - state.seen >= unreviewed_after_s


def _resolved_at(state: FrameEntry) -> float:
    """When a resolved entry was resolved; :meth:`FrameEntry.resolved` sets ``seen`` to the
    same time, so an entry without ``at`` still ages out."""
    return state.seen if state.at is None else state.at
