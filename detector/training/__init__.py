"""Training: the COCO directory data set, augmentation and the resumable trainer.

The end-to-end run (train, evaluate, write the artifact) is :mod:`detector.training.run`; it
is not re-exported here because it depends on :mod:`detector.evaluation`, which itself reads
data sets through this package.
"""

from detector.training.augment import Augmenter
from detector.training.dataset import CocoDetectionDirectory, Sample, dataset_fingerprint
from detector.training.trainer import TrainConfig, Trainer, TrainResult

__all__ = [
    "Augmenter",
    "CocoDetectionDirectory",
    "Sample",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "dataset_fingerprint",
]
