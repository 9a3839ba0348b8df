"""Label Studio's JSON, both ways: tasks with pre-annotations out, annotations back in.

Label Studio places a rectangle by its top-left corner, width and height in **percent** of
the image, rotated by ``rotation`` degrees about that corner; leakguard boxes are pixels
``[x1, y1, x2, y2]`` (docs/events.md). A per-box ``subtype`` is a ``choices`` result that
shares the rectangle's region ``id``. Everything the bridge needs to turn an annotation back
into an event (task id, frame, image link) travels in the task's ``data``, so a webhook
payload or a polled task is self-contained and the bridge's own state is only a cache.

Pure functions: no HTTP, no Kafka; ``tests/retrain/annotation`` runs them on plain dicts.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, cast, get_args

from retrain.annotation.exceptions import UnusableAnnotationError
from retrain.annotation.label_config import BOX_FROM_NAME, IMAGE_NAME, SUBTYPE_FROM_NAME
from schemas.events import (
    Annotation,
    AnnotationTask,
    Box,
    ImageLink,
    LabeledBox,
    ObjectClassName,
    PreAnnotation,
)

__all__ = [
    "LABEL_STUDIO_ANNOTATION_NAMESPACE",
    "TASK_KEY",
    "annotation_event",
    "boxes_from_result",
    "prediction_result",
    "task_payload",
]

#: Namespace of the ids of annotations that come from Label Studio; never change it: a
#: re-emitted annotation must keep its id so the retrain consumer deduplicates it.
LABEL_STUDIO_ANNOTATION_NAMESPACE: Final = uuid.UUID("0b6f2d1e-5a47-5c3b-9e21-6c6162656c73")
#: The task-data key holding the AnnotationTask's id; the bridge finds tasks by it.
TASK_KEY: Final = "leakguard_task_id"
#: Task-data keys that every leakguard task carries.
_REQUIRED_DATA: Final = (
    TASK_KEY,
    "checkpoint",
    "lane",
    "frame_id",
    "image_uri",
    "image_sha256",
    "image_width",
    "image_height",
)
_CLASS_NAMES: Final[frozenset[str]] = frozenset(get_args(ObjectClassName))


def task_payload(
    task: AnnotationTask, *, image_url: str, width: int, height: int
) -> dict[str, Any]:
    """The Label Studio task (``data`` + one prediction) for ``task``.

    ``image_url`` is where annotators' browsers load the frame; ``width`` x ``height`` is
    the image size in pixels, needed for the percent coordinates.
    """
    data: dict[str, Any] = {
        IMAGE_NAME: image_url,
        TASK_KEY: str(task.task_id),
        "checkpoint": task.checkpoint,
        "lane": task.lane,
        "frame_id": task.frame_id,
        "reason": task.reason,
        "model_version": task.model_version,
        "image_uri": task.image.uri,
        "image_sha256": task.image.sha256,
        "image_width": width,
        "image_height": height,
        "queued_at": task.event_time.isoformat(),
    }
    payload: dict[str, Any] = {"data": data}
    if task.pre_annotations:
        payload["predictions"] = [
            {
                "model_version": f"leakguard {task.reason} {task.model_version}",
                "result": prediction_result(task.pre_annotations, width=width, height=height),
            }
        ]
    return payload


def prediction_result(
    pre_annotations: Sequence[PreAnnotation], *, width: int, height: int
) -> list[dict[str, Any]]:
    """Label Studio ``result`` items for the suggested boxes (a rectangle, plus a subtype
    choice on the same region when one is suggested)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    result: list[dict[str, Any]] = []
    for index, pre in enumerate(pre_annotations):
        x1, x2 = sorted((min(max(pre.box.x1, 0.0), width), min(max(pre.box.x2, 0.0), width)))
        y1, y2 = sorted((min(max(pre.box.y1, 0.0), height), min(max(pre.box.y2, 0.0), height)))
        region = {
            "x": 100.0 * x1 / width,
            "y": 100.0 * y1 / height,
            "width": 100.0 * (x2 - x1) / width,
            "height": 100.0 * (y2 - y1) / height,
            "rotation": 0,
        }
        common = {
            "id": f"lg{index}",
            "to_name": IMAGE_NAME,
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
            "origin": "prediction",
        }
        result.append(
            {
                **common,
                "from_name": BOX_FROM_NAME,
                "type": "rectanglelabels",
                "value": {**region, "rectanglelabels": [pre.class_name]},
            }
        )
        if pre.subtype is not None:
            result.append(
                {
                    **common,
                    "from_name": SUBTYPE_FROM_NAME,
                    "type": "choices",
                    "value": {**region, "choices": [pre.subtype]},
                }
            )
    return result


def _pixel_box(value: Mapping[str, Any], *, width: int, height: int) -> Box:
    """The axis-aligned pixel box around a (possibly rotated) Label Studio rectangle."""
    x, y = float(value["x"]) * width / 100.0, float(value["y"]) * height / 100.0
    w, h = float(value["width"]) * width / 100.0, float(value["height"]) * height / 100.0
    angle = math.radians(float(value.get("rotation") or 0.0))
    cos, sin = math.cos(angle), math.sin(angle)
    corners = [
        (x + cx * cos - cy * sin, y + cx * sin + cy * cos)
        for cx, cy in ((0.0, 0.0), (w, 0.0), (w, h), (0.0, h))
    ]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return Box(
        x1=max(min(xs), 0.0),
        y1=max(min(ys), 0.0),
        x2=min(max(xs), float(width)),
        y2=min(max(ys), float(height)),
    )


def boxes_from_result(
    result: Sequence[Mapping[str, Any]], *, width: int, height: int
) -> tuple[LabeledBox, ...]:
    """The labelled boxes of a Label Studio ``result``, in the order the regions appear.

    ``width`` x ``height`` is the fallback image size when an item lacks
    ``original_width``/``original_height``. Raises :class:`UnusableAnnotationError` for a
    label that is not one of the nine classes.
    """
    rectangles: dict[str, Mapping[str, Any]] = {}
    subtypes: dict[str, str] = {}
    for item in result:
        region_id = str(item.get("id", len(rectangles)))
        value = item.get("value") or {}
        if item.get("type") == "rectanglelabels" and item.get("from_name") == BOX_FROM_NAME:
            rectangles[region_id] = item
        elif item.get("from_name") == SUBTYPE_FROM_NAME and value.get("choices"):
            subtypes[region_id] = str(value["choices"][0])
    boxes: list[LabeledBox] = []
    for region_id, item in rectangles.items():
        labels = item["value"].get("rectanglelabels") or []
        if len(labels) != 1 or labels[0] not in _CLASS_NAMES:
            raise UnusableAnnotationError(
                f"region {region_id} is labelled {labels!r}, not exactly one of the nine classes"
            )
        box = _pixel_box(
            item["value"],
            width=int(item.get("original_width") or width),
            height=int(item.get("original_height") or height),
        )
        boxes.append(
            LabeledBox(
                class_name=cast(ObjectClassName, labels[0]),
                subtype=subtypes.get(region_id),
                box=box,
            )
        )
    return tuple(boxes)


def _timestamp(text: str) -> datetime:
    """A Label Studio ISO time (``...Z``) as UTC, cut to the milliseconds events keep."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def annotation_event(
    annotation: Mapping[str, Any],
    task_data: Mapping[str, Any],
    *,
    label_studio_url: str,
    project_id: int,
    annotator: str,
    tool_version: str,
) -> Annotation:
    """The ``Annotation`` event of one Label Studio annotation version.

    ``annotation`` is Label Studio's annotation object (webhook payload or task listing),
    ``task_data`` its task's ``data``. The id is derived from the Label Studio instance,
    project, annotation id and ``updated_at``, so every version gets its own id and a
    re-emitted version the same one.
    """
    missing = [key for key in _REQUIRED_DATA if key not in task_data]
    if missing:
        raise UnusableAnnotationError(
            f"task {annotation.get('task')} was not created by leakguard (data lacks {missing})"
        )
    updated_at = str(annotation.get("updated_at") or annotation["created_at"])
    name = "\x1f".join(
        (label_studio_url.rstrip("/"), str(project_id), str(annotation["id"]), updated_at)
    )
    annotation_id = uuid.uuid5(LABEL_STUDIO_ANNOTATION_NAMESPACE, name)
    objects = boxes_from_result(
        annotation.get("result") or [],
        width=int(task_data["image_width"]),
        height=int(task_data["image_height"]),
    )
    provenance = {
        "label_studio_url": label_studio_url.rstrip("/"),
        "label_studio_project": str(project_id),
        "label_studio_task": str(annotation.get("task")),
        "label_studio_annotation": str(annotation["id"]),
        "label_studio_updated_at": updated_at,
        "task_reason": str(task_data.get("reason", "")),
        "task_model_version": str(task_data.get("model_version", "")),
        "coverage": "full_image",
        "tool_version": tool_version,
    }
    if annotation.get("lead_time") is not None:
        provenance["lead_time_s"] = f"{float(annotation['lead_time']):.3f}"
    return Annotation(
        event_id=annotation_id,
        event_time=_timestamp(updated_at),
        checkpoint=str(task_data["checkpoint"]),
        lane=str(task_data["lane"]),
        frame_id=str(task_data["frame_id"]),
        annotation_id=annotation_id,
        task_id=uuid.UUID(str(task_data[TASK_KEY])),
        image=ImageLink(uri=str(task_data["image_uri"]), sha256=str(task_data["image_sha256"])),
        objects=objects,
        annotator=annotator,
        source="label_studio",
        provenance=provenance,
    )
