"""Training: the COCO directory data set, augmentation, the resumable trainer and the run."""

from detector.training.augment import Augmenter
from detector.training.dataset import CocoDetectionDirectory, Sample, dataset_fingerprint
from detector.training.run import TrainingOutcome, run_training, seed_everything
from detector.training.trainer import TrainConfig, Trainer, TrainResult

__all__ = [
    "Augmenter",
    "CocoDetectionDirectory",
    "Sample",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingOutcome",
    "dataset_fingerprint",
    "run_training",
    "seed_everything",
]
