"""Errors raised by the detector package (simulator, datasets, model).

Every error derives from :class:`DetectorError`, itself a :class:`LeakguardError`, so the
CLI and the stream workers can catch "the detector refused this on purpose" in one clause.
"""

from __future__ import annotations

from leakguard.errors import LeakguardError


class DetectorError(LeakguardError):
    """Base class of every error the detector package raises deliberately."""


class SimulationError(DetectorError):
    """A scene, preset or object model cannot be built or rendered as asked."""


class DatasetError(DetectorError):
    """A data set on disk is missing, malformed or disagrees with the class table."""


# --- model, training, evaluation, artifacts, inference engine ---------------------


class ModelConfigError(DetectorError):
    """A model preset, training or engine option is invalid; raised at start-up, not mid-run."""


class CheckpointError(DetectorError):
    """A training checkpoint is missing a part, or disagrees with the run that resumes it."""


class ArtifactError(DetectorError):
    """A model artifact is malformed, fails its hash or signature check, or is not safetensors."""


class ImageDecodeError(DetectorError):
    """Input image bytes are not a decodable image, or exceed the pixel cap (decompression bomb)."""


class EvaluationError(DetectorError):
    """Ground truth and detections cannot be evaluated together (unknown image or class ids)."""
