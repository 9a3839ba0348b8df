"""Intersection over union of the events' boxes, with the one definition of "same object"
(:mod:`leakguard.geometry`) that the outcome join, the guards' simulation, the evaluation
and the retrain gate share.
"""

from __future__ import annotations

from leakguard.geometry import DEFAULT_MIN_IOU, iou_xyxy
from schemas.events import Box

__all__ = ["DEFAULT_MIN_IOU", "iou"]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` pixel boxes; 0 for empty boxes."""
    return iou_xyxy((a.x1, a.y1, a.x2, a.y2), (b.x1, b.y1, b.x2, b.y2))
