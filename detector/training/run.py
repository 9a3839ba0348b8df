"""One training run end to end: data -> model -> trainer -> evaluation -> artifact + curves.

This is what ``leakguard train`` and the retrain jobs call. The run directory holds::

    checkpoint/            resumable state (see :mod:`detector.training.checkpoint`)
    model/                 the artifact (model.safetensors + model_card.json)
    best/                  float16 artifact of the best periodic evaluation so far
    training_curves.png    loss and metric curves
    eval/                  report.json, summary.md, pr_curves/ (when eval data is given)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import torch
from torch.utils.data import ConcatDataset, Dataset
from torchvision.models.detection.retinanet import RetinaNet

from detector.artifacts import ModelCard, save_artifact
from detector.evaluation.report import EvaluationReport, write_report
from detector.evaluation.runner import evaluate_model
from detector.exceptions import DatasetError
from detector.model.builder import build_retinanet
from detector.model.presets import DetectorPreset
from detector.training.curves import plot_training_curves
from detector.training.dataset import CocoDetectionDirectory, Sample, dataset_fingerprint
from detector.training.simulated import SceneMix, SimulatedScenes
from detector.training.trainer import StepCallback, TrainConfig, Trainer

__all__ = ["EvalCallback", "TrainingOutcome", "run_training", "seed_everything"]

ARTIFACT_DIR: Final[str] = "model"
BEST_DIR: Final[str] = "best"
#: The metric that picks the best periodic evaluation: the original study's headline figure.
BEST_METRIC: Final[str] = "map50_media"
CURVES_FILE: Final[str] = "training_curves.png"
EVAL_DIR: Final[str] = "eval"


@dataclass(frozen=True)
class TrainingOutcome:
    """Where the run put its artifact, and what it measured."""

    artifact_dir: Path
    card: ModelCard
    curves_png: Path
    report: EvaluationReport | None


class EvalCallback(Protocol):
    """Called with the flat metrics of every periodic evaluation."""

    def __call__(self, metrics: Mapping[str, float], /) -> None: ...


class _BestTracker:
    """Writes a float16 artifact whenever an evaluation beats the best one so far."""

    def __init__(
        self, directory: Path, *, preset: DetectorPreset, version: str, config: TrainConfig
    ) -> None:
        self.directory, self.preset, self.version, self.config = directory, preset, version, config
        self.best: float | None = None

    def recall(self, evaluations: Sequence[Mapping[str, Any]]) -> None:
        """Take the best of the run's earlier ``evaluations`` (its history, restored by a
        resume) as the one to beat: else the first evaluation after a resume would replace
        ``best/`` even when worse than what it holds."""
        scores = [float(e[BEST_METRIC]) for e in evaluations if BEST_METRIC in e]
        self.best = max(scores, default=None)

    def offer(
        self,
        model: RetinaNet,
        step: int,
        metrics: Mapping[str, float],
        provenance: Mapping[str, str],
    ) -> None:
        score = metrics.get(BEST_METRIC)
        if score is None or (self.best is not None and score <= self.best):
            return
        self.best = score
        save_artifact(
            self.directory,
            model=model,
            preset=self.preset,
            version=self.version,
            metrics=dict(metrics),
            data_fingerprint=provenance["data_fingerprint"],
            training={
                "steps": step,
                "images_seen": step * self.config.batch_size,
                "config": asdict(self.config),
                **provenance,
            },
            half=True,
        )


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
    on_eval: EvalCallback | None = None,
    model: RetinaNet | None = None,
    half_artifact: bool = False,
    scene_mix: SceneMix | None = None,
    scene_seed: int = 0,
    parent: ModelCard | None = None,
) -> TrainingOutcome:
    """Train ``preset`` on ``data_dirs`` (one data set or several, concatenated) and/or on
    scenes rendered on the fly from ``scene_mix`` (one new scene per sample, from
    ``scene_seed``); evaluate on ``eval_dir`` if given; write the artifact.

    ``model`` may be injected (e.g. to fine-tune a loaded artifact); otherwise a fresh model
    is built (heads random, backbone from the preset's pinned weights if it names any).
    ``parent`` is the card of the artifact ``model`` was started from: the run's cards name
    it (``init_version``, ``init_weights_sha256``), since their ``images_seen`` counts this
    run's images only. ``half_artifact`` stores float16 weights (half the size). Each
    periodic evaluation that beats the best so far on mAP@0.5 (media) also writes a float16
    artifact to ``best/``, so a long run's best weights survive whatever happens to it later.
    Call :func:`seed_everything` first for deterministic kernels; the trainer seeds torch
    itself.
    """
    sources: list[Dataset[Sample]] = [CocoDetectionDirectory(root) for root in data_dirs]
    if scene_mix is not None:
        sources.append(
            SimulatedScenes(scene_mix, seed=scene_seed, length=config.steps * config.batch_size)
        )
    if not sources:
        raise DatasetError("no training data: give a data set directory or a scene mix")
    train_data: ConcatDataset[Sample] = ConcatDataset(sources)
    eval_data = CocoDetectionDirectory(eval_dir) if eval_dir is not None else None
    model = model if model is not None else build_retinanet(preset)
    provenance = {"data_fingerprint": dataset_fingerprint(*data_dirs)}
    if scene_mix is not None:
        provenance["scene_mix"] = scene_mix.describe()
        provenance["scene_seed"] = str(scene_seed)
    if parent is not None:
        provenance["init_version"] = parent.version
        provenance["init_weights_sha256"] = parent.weights_sha256
    best = _BestTracker(out_dir / BEST_DIR, preset=preset, version=version, config=config)
    # The trainer always evaluates its final step; keeping that report spares the run a
    # second pass over the evaluation set for the same weights.
    latest: dict[int, EvaluationReport] = {}

    def evaluate(m: RetinaNet, step: int) -> Mapping[str, float]:
        if eval_data is None:
            return {}
        latest.clear()
        latest[step] = evaluate_model(m, eval_data, device=device, model_version=version)
        metrics = latest[step].flat_metrics()
        if best.best is None:
            best.recall(trainer.history["eval"])
        best.offer(m, step, metrics, provenance)
        if on_eval is not None:
            on_eval(metrics)
        return metrics

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
        report = latest.get(result.step) or evaluate_model(
            result.model, eval_data, device=device, model_version=version
        )
        write_report(report, out_dir / EVAL_DIR)
    card = save_artifact(
        out_dir / ARTIFACT_DIR,
        model=result.model,
        preset=preset,
        version=version,
        metrics=report.flat_metrics() if report is not None else {},
        data_fingerprint=provenance["data_fingerprint"],
        training={"steps": result.step, "config": asdict(config), **provenance},
        half=half_artifact,
    )
    curves = plot_training_curves(result.history, out_dir / CURVES_FILE)
    return TrainingOutcome(out_dir / ARTIFACT_DIR, card, curves, report)
