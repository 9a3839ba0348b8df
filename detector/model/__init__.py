"""The RetinaNet detector: presets (:mod:`.presets`) and the from-scratch builder."""

from detector.model.builder import MODEL_NUM_CLASSES, build_retinanet, count_parameters
from detector.model.presets import PRESETS, DetectorPreset, get_preset

__all__ = [
    "MODEL_NUM_CLASSES",
    "PRESETS",
    "DetectorPreset",
    "build_retinanet",
    "count_parameters",
    "get_preset",
]
