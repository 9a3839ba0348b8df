"""The annotation queue: frames the detector got wrong become ``AnnotationTask`` events.

A frame with false positives yields one ``fp`` task whose pre-annotations relabel every
rejected box as ``others`` (look-alikes must learn not to alarm); a frame with false
negatives yields one ``fn`` task pre-annotated with the guard's boxes. Both also carry the
alarms the guard confirmed in that frame, with their classes: a frame labelled with its
corrections alone would teach a fine-tune that its real media are background, and an
annotator starts from every object the review knows. A confirmed alarm the guard
reclassified (a tablet alarmed as a laptop) carries the guard's class, suggested by the
guard, and makes an ``fp`` task by itself: the detection was wrong in its class, and
without a task the fine-tune would never see the right one. Both refer to the image kept
in the frame store. Task ids are UUIDv5 of frame and reason, so a replay re-sends the same
task.
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
#: Outcome kinds whose frames the frame store keeps.
KEPT_KINDS: Final[frozenset[str]] = frozenset({"tp", "fp", "fn"})


def task_id(*, checkpoint: str, lane: str, frame_id: str, reason: TaskReasonName) -> uuid.UUID:
    """The deterministic id of a frame's annotation task for ``reason``."""
    return uuid.uuid5(TASK_ID_NAMESPACE, "\x1f".join((checkpoint, lane, frame_id, reason)))


def needs_image(outcomes: Sequence[Outcome]) -> bool:
    """Whether the frame store must keep this frame's image (any TP, FP or FN outcome)."""
    return any(o.kind in KEPT_KINDS for o in outcomes)


def _pre_annotation(
    outcome: Outcome, *, model_version: str, guard_id: str, reclassified: bool
) -> PreAnnotation:
    """A missed item as the guard drew it; an alarm as the detector's box, relabelled
    ``others`` when the guard rejected it, with its class when confirmed: the guard's when
    ``reclassified`` (then the guard suggested it), else the predicted one."""
    if outcome.kind == "fn" or reclassified:
        return PreAnnotation(
            class_name=outcome.class_name, box=outcome.box, source="guard", source_id=guard_id
        )
    rejected = outcome.kind == "fp"
    return PreAnnotation(
        class_name="others" if rejected else outcome.class_name,
        subtype=f"fp:{outcome.class_name}" if rejected else None,
        box=outcome.box,
        source="detector",
        source_id=model_version,
    )


def build_annotation_tasks(
    detection: Detection,
    verdict: GuardVerdict,
    outcomes: Sequence[Outcome],
    *,
    image: ImageLink,
) -> list[AnnotationTask]:
    """At most two tasks (``fp`` then ``fn``) for one reviewed frame with mistakes, each
    with the frame's confirmed alarms after its own corrections.

    The outcomes are :func:`~streams.logic.outcomes.match_outcomes` of ``detection`` and
    ``verdict``: a true positive whose class differs from the detector's was reclassified.
    """
    tasks: list[AnnotationTask] = []
    reasons: tuple[TaskReasonName, ...] = ("fp", "fn")
    predicted = {obj.object_id: obj.class_name for obj in detection.objects}
    # The task's image is the primary view: a box found in another view (#20) is not on it.
    elsewhere = {obj.object_id for obj in detection.objects if obj.view_id is not None}
    outcomes = [o for o in outcomes if o.object_id not in elsewhere]
    confirmed = [o for o in outcomes if o.kind == "tp"]
    reclassified = {o.object_id for o in confirmed if o.class_name != predicted.get(o.object_id)}
    for reason in reasons:
        wrong = [o for o in outcomes if o.kind == reason]
        if not wrong and not (reason == "fp" and reclassified):
            continue
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
                pre_annotations=tuple(
                    _pre_annotation(
                        o,
                        model_version=detection.model_version,
                        guard_id=verdict.guard_id,
                        reclassified=o.object_id in reclassified,
                    )
                    for o in wrong + confirmed
                ),
                reason=reason,
            )
        )
    return tasks
