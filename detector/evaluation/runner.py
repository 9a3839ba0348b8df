"""Evaluate a model on a COCO directory: predict, then score (the ``leakguard eval`` core)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torchvision.models.detection.retinanet import RetinaNet

from detector.evaluation.predict import predict_dataset
from detector.evaluation.report import EvaluationReport, build_report
from detector.training.dataset import CocoDetectionDirectory
from leakguard.classes import alarm_thresholds

__all__ = ["evaluate_model"]


def evaluate_model(
    model: RetinaNet,
    data: CocoDetectionDirectory,
    *,
    thresholds: Mapping[int, float] | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 4,
    model_version: str | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> EvaluationReport:
    """COCO AP and bag-level figures of ``model`` on ``data`` at ``thresholds``."""
    detections = predict_dataset(
        model, data, device=device, batch_size=batch_size, on_batch=on_batch
    )
    return build_report(
        data.coco,
        detections,
        thresholds=thresholds if thresholds is not None else alarm_thresholds(),
        model_version=model_version,
    )
