"""When two boxes show the same object: intersection over union and its threshold.

The outcome join (a guard's box against a detection), the guards' simulation, the detector's
evaluation and the retrain gate (a model's alarms against ground truth) must agree on "same
object", or a model judged good offline would be judged differently on live outcomes; so the
one definition lives in the package every layer may import, on plain coordinates.
"""

from __future__ import annotations

from typing import Final, TypeAlias

__all__ = ["DEFAULT_MIN_IOU", "XYXY", "iou_xyxy"]

#: Overlap at which a guard's box and a detection count as the same object (COCO's AP50).
DEFAULT_MIN_IOU: Final[float] = 0.5

#: A box as ``(x1, y1, x2, y2)`` in pixels, origin top-left.
XYXY: TypeAlias = tuple[float, float, float, float]


def iou_xyxy(a: XYXY, b: XYXY) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` pixel boxes; 0 for empty boxes."""
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    width = min(ax2, bx2) - max(ax1, bx1)
    height = min(ay2, by2) - max(ay1, by1)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0
