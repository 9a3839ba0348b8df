"""The outcome join's state machine, without Kafka: what to remember about one frame and
when to resolve it.

The cloud keeps one entry per frame in a Faust table (changelogged, so a restarted worker
recovers it). An entry is a small JSON-able dict::

    {"d": <Detection bytes, base64> | None, "v": <GuardVerdict bytes> | None,
     "seen": <wall time the first event arrived>, "done": None | "reviewed" | "unreviewed",
     "at": <wall time it was resolved>}

Detection and verdict may arrive in either order; the second one resolves the frame. A tick
(the review deadline check) resolves a frame that has a detection but no verdict after
``unreviewed_after_s`` as unreviewed, and forgets resolved frames after
``resolved_retention_s``. A resolved entry keeps only ``done`` and ``at``: a replayed
detection or verdict of that frame then resolves nothing (no duplicate outcomes), and a
verdict arriving after the frame went unreviewed is ignored rather than contradicting it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from schemas.codec import Codec
from schemas.events import Detection, GuardVerdict, Outcome
from schemas.geometry import DEFAULT_MIN_IOU
from streams.logic.outcomes import match_outcomes, unreviewed_outcomes

__all__ = ["JoinState", "JoinStep", "Resolution", "is_due", "on_event", "on_tick"]

JoinState = dict[str, Any]
Note = Literal["stored", "resolved", "duplicate", "late_verdict", "expired", "forgotten", "none"]


@dataclass(frozen=True, slots=True)
class Resolution:
    """A resolved frame: its detection, its verdict (``None`` if unreviewed), its outcomes."""

    detection: Detection
    verdict: GuardVerdict | None
    outcomes: list[Outcome]


@dataclass(frozen=True, slots=True)
class JoinStep:
    """What to do after an event: the new entry (``None``: delete it), and a resolution."""

    state: JoinState | None
    resolution: Resolution | None
    note: Note


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _resolved(kind: str, now: float) -> JoinState:
    return {"d": None, "v": None, "seen": now, "done": kind, "at": now}


def on_event(
    state: JoinState | None,
    event: Detection | GuardVerdict,
    raw: bytes,
    *,
    now: float,
    codec: Codec,
    min_iou: float = DEFAULT_MIN_IOU,
) -> JoinStep:
    """Remember a detection or verdict (``raw`` is its encoded form); resolve when both are in."""
    if state is not None and state.get("done"):
        late = isinstance(event, GuardVerdict) and state["done"] == "unreviewed"
        return JoinStep(state, None, "late_verdict" if late else "duplicate")
    entry: JoinState = dict(state or {"d": None, "v": None, "seen": now, "done": None, "at": None})
    slot = "d" if isinstance(event, Detection) else "v"
    entry[slot] = _b64(raw)
    if entry["d"] is None or entry["v"] is None:
        return JoinStep(entry, None, "stored")
    detection = (
        event
        if isinstance(event, Detection)
        else codec.decode(base64.b64decode(entry["d"]), Detection)
    )
    verdict = (
        event
        if isinstance(event, GuardVerdict)
        else codec.decode(base64.b64decode(entry["v"]), GuardVerdict)
    )
    outcomes = match_outcomes(detection, verdict, min_iou=min_iou)
    return JoinStep(
        _resolved("reviewed", now), Resolution(detection, verdict, outcomes), "resolved"
    )


def on_tick(
    state: JoinState | None,
    *,
    now: float,
    unreviewed_after_s: float,
    resolved_retention_s: float,
    codec: Codec,
) -> JoinStep:
    """The deadline check for one frame: expire it as unreviewed, or forget it when old."""
    if state is None:
        return JoinStep(None, None, "none")
    if state.get("done"):
        if now - float(state["at"]) >= resolved_retention_s:
            return JoinStep(None, None, "forgotten")
        return JoinStep(state, None, "none")
    if state.get("d") is None:  # a verdict whose detection never came: forget it in time
        stale = now - float(state["seen"]) >= resolved_retention_s
        return JoinStep(None if stale else state, None, "forgotten" if stale else "none")
    if now - float(state["seen"]) < unreviewed_after_s:
        return JoinStep(state, None, "none")
    detection = codec.decode(base64.b64decode(state["d"]), Detection)
    when = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
    outcomes = unreviewed_outcomes(detection, event_time=when)
    return JoinStep(_resolved("unreviewed", now), Resolution(detection, None, outcomes), "expired")


def is_due(
    state: JoinState, *, now: float, unreviewed_after_s: float, resolved_retention_s: float
) -> bool:
    """Whether a tick would change this entry (so the deadline check sends one)."""
    if state.get("done"):
        return now - float(state["at"]) >= resolved_retention_s
    if state.get("d") is None:
        return now - float(state["seen"]) >= resolved_retention_s
    return now - float(state["seen"]) >= unreviewed_after_s
