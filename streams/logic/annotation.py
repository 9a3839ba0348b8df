"""The annotation queue: frames the detector got wrong become ``AnnotationTask`` events.

A frame with false positives yields one ``fp`` task whose pre-annotations relabel every
rejected box as ``others`` (look-alikes must learn not to alarm); a frame with false
negatives yields one ``fn`` task pre-annotated with the guard's boxes. Both refer to the
image kept in the frame store. Task ids are UUIDv5 of frame and reason, so a replay
re-sends the same task.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final

from schemas.events import (
    AnnotationTask,
    Detection,
    GuardVerdict,
    ImageLink,
    Outcome,
    PreAnnotation,
    TaskReasonName,
)

__all__ = ["TASK_ID_NAMESPACE", "build_annotation_tasks", "needs_image", "task_id"]

#: Namespace of deterministic task ids; never change it.
TASK_ID_NAMESPACE: Final[uuid.UUID] = uuid.UUID("3e2a9f61-7c04-5d1b-8a6e-616e6e6f7461")
#: Outcome kinds whose frames the frame store keeps (issue #6, "Data storage").
KEPT_KINDS: Final[frozenset[str]] = frozenset({"tp", "fp", "fn"})


def task_id(*, checkpoint: str, lane: str, frame_id: str, reason: TaskReasonName) -> uuid.UUID:
    """The deterministic id of a frame's annotation task for ``reason``."""
    return uuid.uuid5(TASK_ID_NAMESPACE, "\x1f".join((checkpoint, lane, frame_id, reason)))


def needs_image(outcomes: Sequence[Outcome]) -> bool:
    """Whether the frame store must keep this frame's image (any TP, FP or FN outcome)."""
    return any(o.kind in KEPT_KINDS for o in outcomes)


def _pre_annotation(outcome: Outcome, source_id: str) -> PreAnnotation:
    if outcome.kind == "fp":
        return PreAnnotation(
            class_name="others",
            subtype=f"fp:{outcome.class_name}",
            box=outcome.box,
            source="detector",
            source_id=source_id,
        )
    return PreAnnotation(
        class_name=outcome.class_name, box=outcome.box, source="guard", source_id=source_id
    )


def build_annotation_tasks(
    detection: Detection,
    verdict: GuardVerdict,
    outcomes: Sequence[Outcome],
    *,
    image: ImageLink,
) -> list[AnnotationTask]:
    """At most two tasks (``fp`` then ``fn``) for one reviewed frame with mistakes."""
    tasks: list[AnnotationTask] = []
    reasons: tuple[TaskReasonName, ...] = ("fp", "fn")
    for reason in reasons:
        wrong = [o for o in outcomes if o.kind == reason]
        if not wrong:
            continue
        source_id = detection.model_version if reason == "fp" else verdict.guard_id
        tid = task_id(
            checkpoint=detection.checkpoint,
            lane=detection.lane,
            frame_id=detection.frame_id,
            reason=reason,
        )
        tasks.append(
            AnnotationTask(
                event_id=tid,
                event_time=verdict.event_time,
                checkpoint=detection.checkpoint,
                lane=detection.lane,
                frame_id=detection.frame_id,
                task_id=tid,
                model_version=detection.model_version,
                image=image,
                pre_annotations=tuple(_pre_annotation(o, source_id) for o in wrong),
                reason=reason,
            )
        )
    return tasks
