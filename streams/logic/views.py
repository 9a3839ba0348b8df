"""Items across the views of a multi-view frame (#20): which detected objects are one thing.

A dual-view scanner's top and side views share the belt axis, image x in both: a physical
item spans (about) the same columns in every view, while its y means different things
(across the belt from above, height from the side). So objects of different views are
matched on the overlap of their x-intervals alone, 1-D IoU at least ``min_x_iou``, and
only when their classes are compatible (the same class, or both storage media: a side view
may call a tablet a laptop). Matching is greedy, best-scoring pairs first, and an item
holds at most one object per view, so two media lying side by side along the belt stay two
items as long as each view sees both.

Every object of a multi-view frame gets an ``item_id``: the ``object_id`` of the item's
highest-scoring object, so an item seen in one view only is an item of its own. The frame
alarms once whatever the number of views (``Detection.alarmed``); the console draws one box
group per item and the outcome join counts an item once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Final

from leakguard.classes import CLASS_IDS, is_storage_medium
from schemas.events import DetectedObject
from streams.exceptions import StreamsConfigError

__all__ = [
    "DEFAULT_MIN_X_IOU",
    "item_groups",
    "match_items",
    "x_iou",
]

#: Least 1-D IoU of two x-intervals to be one item: views are not pixel-registered (belt
#: speed, scanner geometry), and a half-overlapping pair is still most likely one item.
DEFAULT_MIN_X_IOU: Final[float] = 0.5


def x_iou(a: DetectedObject, b: DetectedObject) -> float:
    """Intersection over union of the two boxes' ``[x1, x2]`` intervals, in [0, 1]."""
    inter = min(a.box.x2, b.box.x2) - max(a.box.x1, b.box.x1)
    union = max(a.box.x2, b.box.x2) - min(a.box.x1, b.box.x1)
    return max(inter, 0.0) / union if union > 0 else 0.0


def _compatible(a: DetectedObject, b: DetectedObject) -> bool:
    if a.class_name == b.class_name:
        return True
    return is_storage_medium(CLASS_IDS[a.class_name]) and is_storage_medium(CLASS_IDS[b.class_name])


def match_items(
    objects: Sequence[DetectedObject], *, min_x_iou: float = DEFAULT_MIN_X_IOU
) -> tuple[DetectedObject, ...]:
    """``objects`` (all views of one frame, each with its ``view_id``) in the same order,
    each with ``item_id`` set; unchanged when they all come from one view.

    Raises :class:`StreamsConfigError` for a ``min_x_iou`` outside (0, 1].
    """
    if not 0.0 < min_x_iou <= 1.0:
        raise StreamsConfigError(f"min_x_iou must be in (0, 1], got {min_x_iou}")
    if len({obj.view_id for obj in objects}) < 2:
        return tuple(objects)
    pairs = sorted(
        (
            (-(a.score + b.score), -overlap, i, j)
            for i, a in enumerate(objects)
            for j in range(i + 1, len(objects))
            if a.view_id != (b := objects[j]).view_id
            and _compatible(a, b)
            and (overlap := x_iou(a, b)) >= min_x_iou
        ),
    )
    item_of = list(range(len(objects)))
    members: dict[int, list[int]] = {i: [i] for i in range(len(objects))}
    for _, _, i, j in pairs:
        left, right = item_of[i], item_of[j]
        if left == right:
            continue
        views = {objects[k].view_id for k in members[left]}
        if any(objects[k].view_id in views for k in members[right]):
            continue  # one object per view in an item
        for k in members.pop(right):
            item_of[k] = left
            members[left].append(k)
    leader = {
        item: objects[max(group, key=lambda k: (objects[k].score, -k))].object_id
        for item, group in members.items()
    }
    return tuple(
        dataclasses.replace(obj, item_id=leader[item_of[i]]) for i, obj in enumerate(objects)
    )


def item_groups(objects: Iterable[DetectedObject]) -> dict[str, list[DetectedObject]]:
    """Objects by item, in first-seen order; an object without ``item_id`` (a single-view
    frame) is an item of its own, keyed by its ``object_id``."""
    groups: dict[str, list[DetectedObject]] = {}
    for obj in objects:
        groups.setdefault(obj.item_id or obj.object_id, []).append(obj)
    return groups
