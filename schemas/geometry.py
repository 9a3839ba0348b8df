"""When two boxes show the same object: intersection over union and its threshold.

The outcome join (a guard's box against a detection), the guards' simulation and the retrain
gate (a candidate's alarms against ground truth) must agree on "same object", or a model
judged good offline would be judged differently on live outcomes; so the one definition lives
with the box it measures.
"""

from __future__ import annotations

from typing import Final

from schemas.events import Box

__all__ = ["DEFAULT_MIN_IOU", "iou"]

#: Overlap at which a guard's box and a detection count as the same object (COCO's AP50).
DEFAULT_MIN_IOU: Final[float] = 0.5


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` pixel boxes; 0 for empty boxes."""
    width = min(a.x2, b.x2) - max(a.x1, b.x1)
    height = min(a.y2, b.y2) - max(a.y1, b.y1)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    return inter / union if union > 0 else 0.0
