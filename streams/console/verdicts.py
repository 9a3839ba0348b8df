"""A guard's answer on one frame, turned into the ``GuardVerdict`` the outcome join reads.

The console's buttons map onto the verdict the way ``streams.logic.outcomes`` scores it:

* *confirm* — every alarmed object the guard did not clear is a true alarm (``tp``);
* *clear* (per object) — the object's id goes to ``rejected_object_ids`` (``fp``);
* *mark missed* — a box the guard drew, with a storage-media class, goes to
  ``missed_items`` (``fn``).

The decision is ``confirmed`` while anything is left that the guard stands behind (an alarmed
object not cleared, or a missed item) and ``cleared`` otherwise, which is what the simulated
guard (``streams.logic.guard_policy``) sends for the same situation. Input is validated here,
so a wrong request is refused with a reason instead of reaching Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, get_args

from leakguard.classes import CLASS_IDS, is_storage_medium
from schemas.events import (
    Box,
    DecisionName,
    Detection,
    GuardVerdict,
    LabeledBox,
    ObjectClassName,
    now_ms,
)
from streams.console.exceptions import VerdictError

__all__ = ["MIN_BOX_PX", "MISSED_CLASSES", "build_verdict", "missed_item"]

#: A drawn box smaller than this (either side, pixels) is a slip of the mouse, not an object.
MIN_BOX_PX: Final = 2.0
#: Classes a guard can mark as missed: the storage media (``others`` never alarms).
MISSED_CLASSES: Final[tuple[ObjectClassName, ...]] = tuple(
    name for name in get_args(ObjectClassName) if is_storage_medium(CLASS_IDS[name])
)


def missed_item(
    class_name: str, box: Sequence[float], *, image_width: int, image_height: int
) -> LabeledBox:
    """A missed item from the class and the ``[x1, y1, x2, y2]`` pixel box the guard drew.

    The box must lie inside the ``image_width`` x ``image_height`` frame and be at least
    :data:`MIN_BOX_PX` on each side; the class must be a storage medium.
    """
    if class_name not in MISSED_CLASSES:
        raise VerdictError(f"a missed item must be one of {', '.join(MISSED_CLASSES)}")
    if len(box) != 4:
        raise VerdictError(f"a box is [x1, y1, x2, y2], got {len(box)} numbers")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x1 >= 0 and y1 >= 0 and x2 <= image_width and y2 <= image_height):
        raise VerdictError(
            f"box {[x1, y1, x2, y2]} is outside the {image_width}x{image_height} image"
        )
    if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
        raise VerdictError(f"box {[x1, y1, x2, y2]} is smaller than {MIN_BOX_PX} px")
    return LabeledBox(class_name=class_name, box=Box(x1=x1, y1=y1, x2=x2, y2=y2))


def build_verdict(
    detection: Detection,
    *,
    guard_id: str,
    rejected_object_ids: Sequence[str] = (),
    missed_items: Sequence[LabeledBox] = (),
    note: str | None = None,
) -> GuardVerdict:
    """The verdict of ``guard_id`` on ``detection``.

    ``rejected_object_ids`` are the alarmed objects the guard cleared (each once);
    ``missed_items`` come from :func:`missed_item`.
    """
    alarmed = {obj.object_id for obj in detection.objects if obj.alarmed}
    rejected = tuple(dict.fromkeys(rejected_object_ids))
    if len(rejected) != len(rejected_object_ids):
        raise VerdictError("an object is cleared twice")
    unknown = [object_id for object_id in rejected if object_id not in alarmed]
    if unknown:
        raise VerdictError(f"objects {unknown} are not alarmed objects of this frame")
    decision: DecisionName = "confirmed" if missed_items or alarmed - set(rejected) else "cleared"
    return GuardVerdict(
        event_time=now_ms(),
        checkpoint=detection.checkpoint,
        lane=detection.lane,
        frame_id=detection.frame_id,
        model_version=detection.model_version,
        detection_event_id=detection.event_id,
        guard_id=guard_id,
        decision=decision,
        rejected_object_ids=rejected,
        missed_items=tuple(missed_items),
        note=note,
    )
