"""Auto-label mode: a guard's corrections become training labels without a person.

For sites without annotators, and for the demo, the ``AnnotationTask`` of a configured
checkpoint is turned into an ``Annotation`` directly: a detection the guard rejected becomes
an ``others`` box (subtype ``fp:<predicted class>``), an item the guard marked as missed
becomes a box of the class the guard gave it, and an alarm the guard confirmed keeps its
box and its class: the predicted one, or the guard's where the guard corrected it (the
task already carries it). That is every object the guard's review knows, not necessarily
every object in the frame (a medium neither the detector nor the guard saw is not there),
so the event says so in ``provenance["coverage"]`` (``reviewed_objects``); the retrain
consumer adds up the auto-labels of a frame's two tasks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from leakguard import __version__
from schemas.events import Annotation, AnnotationTask, LabeledBox

__all__ = [
    "ALL_CHECKPOINTS",
    "AUTO_LABELLER",
    "CORRECTIONS_ONLY",
    "REVIEWED_OBJECTS",
    "AutoLabelPolicy",
    "auto_annotation",
]

#: Namespace of auto-label annotation ids; never change it (replays keep their ids).
AUTO_LABEL_NAMESPACE: Final = uuid.UUID("5d0c8a4e-2f13-5b6a-b7e9-6175746f6c62")
#: The annotator name of auto-labels: the labeller and its version, for audit.
AUTO_LABELLER: Final = f"leakguard-auto-label/{__version__}"
#: The checkpoint pattern that means "every checkpoint".
ALL_CHECKPOINTS: Final = "*"
#: ``provenance["coverage"]`` of an auto-label: the objects of its task, which holds the
#: task's corrections and the frame's confirmed alarms.
REVIEWED_OBJECTS: Final = "reviewed_objects"
#: The coverage of auto-labels made before tasks carried the confirmed alarms (replays of
#: older topics): the task's corrections only.
CORRECTIONS_ONLY: Final = "corrections_only"


@dataclass(frozen=True)
class AutoLabelPolicy:
    """Which checkpoints are auto-labelled (``"*"``: all of them)."""

    checkpoints: frozenset[str]

    @classmethod
    def of(cls, checkpoints: Iterable[str]) -> AutoLabelPolicy:
        """The policy for a configured list of checkpoint ids."""
        return cls(frozenset(c.strip() for c in checkpoints if c.strip()))

    @property
    def covers_all(self) -> bool:
        """Whether every checkpoint is auto-labelled (no Label Studio needed)."""
        return ALL_CHECKPOINTS in self.checkpoints

    def applies(self, checkpoint: str) -> bool:
        """Whether tasks of ``checkpoint`` are auto-labelled."""
        return self.covers_all or checkpoint in self.checkpoints


def auto_annotation(task: AnnotationTask) -> Annotation:
    """The auto-label ``Annotation`` of ``task``; its id is derived from the task id, so a
    re-delivered task yields the same event."""
    annotation_id = uuid.uuid5(AUTO_LABEL_NAMESPACE, str(task.task_id))
    sources = sorted({f"{pre.source}:{pre.source_id}" for pre in task.pre_annotations})
    return Annotation(
        event_id=annotation_id,
        event_time=task.event_time,
        checkpoint=task.checkpoint,
        lane=task.lane,
        frame_id=task.frame_id,
        annotation_id=annotation_id,
        task_id=task.task_id,
        image=task.image,
        objects=tuple(
            LabeledBox(class_name=pre.class_name, subtype=pre.subtype, box=pre.box)
            for pre in task.pre_annotations
        ),
        annotator=AUTO_LABELLER,
        source="auto_label",
        provenance={
            "coverage": REVIEWED_OBJECTS,
            "task_reason": task.reason,
            "task_model_version": task.model_version,
            "suggested_by": ",".join(sources),
            "tool_version": AUTO_LABELLER,
        },
    )
