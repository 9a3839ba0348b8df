"""One training run end to end: data -> model -> trainer -> evaluation -> artifact + curves.

This is what ``leakguard train`` and the retrain jobs call. The run directory holds::

    checkpoint/            resumable state (see :mod:`detector.training.checkpoint`)
    model/                 the artifact (model.safetensors + model_card.json)
    training_curves.png    loss and metric curves
    eval/                  report.json, summary.md, pr_curves/ (when eval data is given)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import torch
from torch.utils.data import ConcatDataset
from torchvision.models.detection.retinanet import RetinaNet

from detector.artifacts import ModelCard, save_artifact
from detector.evaluation.report import EvaluationReport, write_report
from detector.evaluation.runner import evaluate_model
from detector.exceptions import DatasetError
from detector.model.builder import build_retinanet
from detector.model.presets import DetectorPreset
from detector.training.curves import plot_training_curves
from detector.training.dataset import CocoDetectionDirectory, Sample, dataset_fingerprint
from detector.training.trainer import StepCallback, TrainConfig, Trainer

__all__ = ["TrainingOutcome", "run_training", "seed_everything"]

ARTIFACT_DIR: Final[str] = "model"
CURVES_FILE: Final[str] = "training_curves.png"
EVAL_DIR: Final[str] = "eval"


@dataclass(frozen=True)
class TrainingOutcome:
    """Where the run put its artifact, and what it measured."""

    artifact_dir: Path
    card: ModelCard
    curves_png: Path
    report: EvaluationReport | None


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed torch (CPU and CUDA) and ask for deterministic kernels where they exist.

    ``warn_only`` because some CUDA detection kernels have no deterministic variant; the
    run still proceeds, close to but not bit-exactly reproducible on GPU.
    """
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def run_training(
    *,
    preset: DetectorPreset,
    data_dirs: Sequence[Path],
    out_dir: Path,
    config: TrainConfig,
    eval_dir: Path | None = None,
    device: torch.device | str = "cpu",
    version: str = "0.0.0-dev",
    resume: bool = True,
    on_step: StepCallback | None = None,
    model: RetinaNet | None = None,
    half_artifact: bool = False,
) -> TrainingOutcome:
    """Train ``preset`` on ``data_dirs`` (one data set or several, concatenated); evaluate on
    ``eval_dir`` if given; write the artifact.

    ``model`` may be injected (e.g. to fine-tune a loaded artifact); otherwise a fresh
    from-scratch model is built. ``half_artifact`` stores float16 weights (the ``edge``
    preset is 53 MB in float32, 27 MB in float16). Call :func:`seed_everything` first for
    deterministic kernels; the trainer seeds torch itself.
    """
    if not data_dirs:
        raise DatasetError("no training data: give at least one data set directory")
    train_data: ConcatDataset[Sample] = ConcatDataset(
        [CocoDetectionDirectory(root) for root in data_dirs]
    )
    eval_data = CocoDetectionDirectory(eval_dir) if eval_dir is not None else None
    model = model if model is not None else build_retinanet(preset)

    def evaluate(m: RetinaNet) -> Mapping[str, float]:
        if eval_data is None:
            return {}
        return evaluate_model(m, eval_data, device=device).flat_metrics()

    trainer = Trainer(
        model=model,
        preset=preset,
        config=config,
        train_data=train_data,
        out_dir=out_dir,
        device=device,
        evaluate=evaluate if eval_data is not None else None,
        on_step=on_step,
    )
    result = trainer.fit(resume=resume)
    report = None
    if eval_data is not None:
        report = evaluate_model(result.model, eval_data, device=device, model_version=version)
        write_report(report, out_dir / EVAL_DIR)
    card = save_artifact(
        out_dir / ARTIFACT_DIR,
        model=result.model,
        preset=preset,
        version=version,
        metrics=report.flat_metrics() if report is not None else {},
        data_fingerprint=dataset_fingerprint(*data_dirs),
        training={"steps": result.step, "config": asdict(config)},
        half=half_artifact,
    )
    curves = plot_training_curves(result.history, out_dir / CURVES_FILE)
    return TrainingOutcome(out_dir / ARTIFACT_DIR, card, curves, report)
