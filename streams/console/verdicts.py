"""A guard's answer on one frame, turned into the ``GuardVerdict`` the outcome join reads.

The console's buttons map onto the verdict the way ``streams.logic.outcomes`` scores it:

* *confirm* — every alarmed object the guard did not clear is a true alarm (``tp``);
* *clear* (per object) — the object's id goes to ``rejected_object_ids`` (``fp``);
* *mark missed* — a box the guard drew, with a storage-media class, goes to
  ``missed_items`` (``fn``);
* *correct the class* of an alarm left standing — ``class_corrections`` (still ``tp``: the
  alarm was right, only its class was wrong; the outcome and the annotation task carry the
  guard's class).

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
    ClassCorrection,
    DecisionName,
    Detection,
    GuardVerdict,
    LabeledBox,
    ObjectClassName,
    now_ms,
)
from streams.console.exceptions import VerdictError

__all__ = [
    "MEDIA_CLASSES",
    "MIN_BOX_PX",
    "build_verdict",
    "class_correction",
    "missed_item",
]

#: A drawn box smaller than this (either side, pixels) is a slip of the mouse, not an object.
MIN_BOX_PX: Final = 2.0
#: The storage-media classes (``others`` never alarms): what a guard can mark as missed or
#: correct an alarm to; an alarm that is no medium at all is rejected instead.
MEDIA_CLASSES: Final[tuple[ObjectClassName, ...]] = tuple(
    name for name in get_args(ObjectClassName) if is_storage_medium(CLASS_IDS[name])
)


def _media_class(class_name: str, what: str) -> ObjectClassName:
    """``class_name`` as a storage-media class, or a :class:`VerdictError` naming ``what``."""
    for name in MEDIA_CLASSES:
        if name == class_name:
            return name
    raise VerdictError(f"{what} must be one of {', '.join(MEDIA_CLASSES)}")


def missed_item(
    class_name: str, box: Sequence[float], *, image_width: int, image_height: int
) -> LabeledBox:
    """A missed item from the class and the ``[x1, y1, x2, y2]`` pixel box the guard drew.

    The box must lie inside the ``image_width`` x ``image_height`` frame and be at least
    :data:`MIN_BOX_PX` on each side; the class must be a storage medium.
    """
    media_class = _media_class(class_name, "a missed item")
    if len(box) != 4:
        raise VerdictError(f"a box is [x1, y1, x2, y2], got {len(box)} numbers")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x1 >= 0 and y1 >= 0 and x2 <= image_width and y2 <= image_height):
        raise VerdictError(
            f"box {[x1, y1, x2, y2]} is outside the {image_width}x{image_height} image"
        )
    if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
        raise VerdictError(f"box {[x1, y1, x2, y2]} is smaller than {MIN_BOX_PX} px")
    return LabeledBox(class_name=media_class, box=Box(x1=x1, y1=y1, x2=x2, y2=y2))


def class_correction(object_id: str, class_name: str) -> ClassCorrection:
    """The guard's class for alarm ``object_id``; the class must be a storage medium.

    Whether the object is an alarm of the frame the guard left standing, and of another
    class, is :func:`build_verdict`'s check (it knows the detection).
    """
    return ClassCorrection(
        object_id=object_id, class_name=_media_class(class_name, "a corrected class")
    )


def build_verdict(
    detection: Detection,
    *,
    guard_id: str,
    rejected_object_ids: Sequence[str] = (),
    missed_items: Sequence[LabeledBox] = (),
    class_corrections: Sequence[ClassCorrection] = (),
    note: str | None = None,
    response_ms: int | None = None,
) -> GuardVerdict:
    """The verdict of ``guard_id`` on ``detection``.

    ``rejected_object_ids`` are the alarmed objects the guard cleared (each once);
    ``missed_items`` come from :func:`missed_item`; ``class_corrections`` (from
    :func:`class_correction`) name alarms left standing, each once, with a class other than
    the detector's. ``response_ms`` is how long the alarm was on screen before the answer.
    """
    alarmed = {obj.object_id: obj.class_name for obj in detection.objects if obj.alarmed}
    rejected = tuple(dict.fromkeys(rejected_object_ids))
    if len(rejected) != len(rejected_object_ids):
        raise VerdictError("an object is cleared twice")
    unknown = [object_id for object_id in rejected if object_id not in alarmed]
    if unknown:
        raise VerdictError(f"objects {unknown} are not alarmed objects of this frame")
    standing = {object_id: name for object_id, name in alarmed.items() if object_id not in rejected}
    _check_corrections(class_corrections, standing)
    if response_ms is not None and response_ms < 0:
        raise VerdictError(f"a response time cannot be negative, got {response_ms} ms")
    decision: DecisionName = "confirmed" if missed_items or standing else "cleared"
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
        response_ms=response_ms,
        class_corrections=tuple(class_corrections),
    )


def _check_corrections(
    corrections: Sequence[ClassCorrection], standing: dict[str, ObjectClassName]
) -> None:
    """Refuse a correction of an object that is no alarm left standing (a cleared alarm has
    no class to correct), a second one of the same object, or one to the detector's class."""
    seen: set[str] = set()
    for correction in corrections:
        object_id = correction.object_id
        if object_id in seen:
            raise VerdictError(f"the class of {object_id} is corrected twice")
        seen.add(object_id)
        if object_id not in standing:
            raise VerdictError(f"object {object_id} is no alarm left standing on this frame")
        if standing[object_id] == correction.class_name:
            raise VerdictError(f"object {object_id} is a {correction.class_name} already")
