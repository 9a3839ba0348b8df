"""What the control centre hears: one ``Alert`` per frame with confirmed storage media.

Built from the frame's outcomes, so an alert exists exactly when the outcome join found a
true positive; the alert id is derived from the frame, so a replayed join re-sends the same
alert and the control centre's delivery deduplicates it. Given the cloud's
:class:`~schemas.authenticity.Seal` for alert ids (from its producer keyring) the id is an
HMAC of the frame, so no one without the key can name the id of a coming alert and pre-empt
it; without one it is a UUIDv5.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final

from leakguard.classes import CLASS_IDS, is_storage_medium
from schemas.authenticity import Seal
from schemas.events import Alert, Detection, GuardVerdict, Outcome

__all__ = ["ALERT_ID_NAMESPACE", "alert_id", "build_alert"]

#: Namespace of deterministic alert ids; never change it (delivery deduplicates on them).
ALERT_ID_NAMESPACE: Final[uuid.UUID] = uuid.UUID("0b7c5d8e-2f41-5a9c-9e3b-616c65727473")


def alert_id(
    *, checkpoint: str, lane: str, frame_id: str, keyed_by: Seal | None = None
) -> uuid.UUID:
    """The deterministic id of a frame's alert: a tag of ``keyed_by`` when given."""
    name = "\x1f".join((checkpoint, lane, frame_id))
    if keyed_by is None:
        return uuid.uuid5(ALERT_ID_NAMESPACE, name)
    return uuid.UUID(bytes=keyed_by.tag(name.encode())[:16], version=4)


def build_alert(
    detection: Detection,
    verdict: GuardVerdict,
    outcomes: Sequence[Outcome],
    *,
    ids: Seal | None = None,
) -> Alert | None:
    """The alert of a reviewed frame, or ``None`` when it has no true-positive medium.

    ``items`` are the detected objects behind the TP outcomes, in detector order; the time is
    the guard's verdict (when the alarm became a fact).
    """
    tp_ids = {
        o.object_id
        for o in outcomes
        if o.kind == "tp" and is_storage_medium(CLASS_IDS[o.class_name])
    }
    items = tuple(obj for obj in detection.objects if obj.object_id in tp_ids)
    if not items:
        return None
    aid = alert_id(
        checkpoint=detection.checkpoint,
        lane=detection.lane,
        frame_id=detection.frame_id,
        keyed_by=ids,
    )
    return Alert(
        event_id=aid,
        event_time=verdict.event_time,
        checkpoint=detection.checkpoint,
        lane=detection.lane,
        frame_id=detection.frame_id,
        alert_id=aid,
        model_version=detection.model_version,
        items=items,
        guard_id=verdict.guard_id,
    )
