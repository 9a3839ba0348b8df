"""Evaluate a model on COCO directories: predict, then score (the ``leakguard eval`` core)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torchvision.models.detection.retinanet import RetinaNet

from detector.evaluation.predict import predict_dataset
from detector.evaluation.report import EvaluationReport, build_report
from detector.evaluation.sets import ScoredSet, combine_sets, set_names
from detector.training.dataset import CocoDetectionDirectory
from leakguard.classes import alarm_thresholds

__all__ = ["SetsReport", "evaluate_model", "evaluate_sets"]


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
    return evaluate_sets(
        model,
        [data],
        thresholds=thresholds,
        device=device,
        batch_size=batch_size,
        model_version=model_version,
        on_batch=on_batch,
    ).combined


@dataclass(frozen=True)
class SetsReport:
    """The report on the union of several sets (``combined``) and each set's own, by the
    set's folder name; with one set, ``combined`` is that set's report."""

    combined: EvaluationReport
    per_set: Mapping[str, EvaluationReport]


def evaluate_sets(
    model: RetinaNet,
    sets: Sequence[CocoDetectionDirectory],
    *,
    thresholds: Mapping[int, float] | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 4,
    model_version: str | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> SetsReport:
    """Each set's report and the union's: every image is predicted once, the union is scored
    from those detections (:func:`combine_sets`). ``on_batch(done, total)`` counts images
    over all sets."""
    at = thresholds if thresholds is not None else alarm_thresholds()
    names = set_names([data.root for data in sets])
    total, done_before = sum(len(data) for data in sets), 0
    scored: list[ScoredSet] = []
    for name, data in zip(names, sets, strict=True):
        detections = predict_dataset(
            model,
            data,
            device=device,
            batch_size=batch_size,
            on_batch=None if on_batch is None else _counting_on(on_batch, done_before, total),
        )
        done_before += len(data)
        scored.append(ScoredSet(name, data.coco, detections))
    per_set = {
        s.name: build_report(
            dict(s.ground_truth),
            s.detections,
            thresholds=at,
            model_version=model_version,
            sets=(s.name,),
        )
        for s in scored
    }
    if len(scored) == 1:
        return SetsReport(combined=per_set[scored[0].name], per_set=per_set)
    ground_truth, detections = combine_sets(scored)
    combined = build_report(
        ground_truth, detections, thresholds=at, model_version=model_version, sets=names
    )
    return SetsReport(combined=combined, per_set=per_set)


def _counting_on(
    on_batch: Callable[[int, int], None], before: int, total: int
) -> Callable[[int, int], None]:
    """One set's progress as progress over all sets: ``before`` images were done already."""
    return lambda done, _set_total: on_batch(before + done, total)
