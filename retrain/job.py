"""One training job: fine-tune the parent model on new and replayed data, score both models
on the hold-out sets, apply the gate.

:func:`run_job` does the work in the calling process; :class:`JobProcess` runs it in a
spawned child process, so the retrain consumer keeps consuming (and answering its group's
heartbeats) while torch trains. The child writes ``progress.json`` as it goes (phase, step,
loss), which the parent may read at any time, and ``result.json`` at the end, which the
parent reads when the child has exited. Jobs resume: the trainer checkpoints into the job
directory, so a job restarted after a crash continues where it stopped.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final, Literal

from detector.artifacts import load_artifact, record_operating_point
from detector.evaluation.alarms import AlarmMistakes, alarm_mistakes
from detector.evaluation.coco_ap import evaluate_coco
from detector.evaluation.predict import predict_dataset
from detector.operating_point import served_thresholds
from detector.training.dataset import CocoDetectionDirectory
from detector.training.run import run_training, seed_everything
from detector.training.trainer import TrainConfig
from leakguard.classes import DEFAULT_ALARM_THRESHOLD, alarm_thresholds
from retrain.calibration import choose_operating_point
from retrain.exceptions import TrainingJobError
from retrain.gate import DEFAULT_MAX_BASE_MAP_LOSS_PTS, gate
from schemas.rollback import (
    DEFAULT_MAX_FALSE_ALARM_INCREASE,
    DEFAULT_MAX_MISS_INCREASE,
    RollbackBounds,
)

__all__ = ["JobPhase", "JobProcess", "JobProgress", "JobResult", "JobSpec", "run_job"]

SPEC_FILE: Final[str] = "job.json"
RESULT_FILE: Final[str] = "result.json"
PROGRESS_FILE: Final[str] = "progress.json"
JobPhase = Literal["scoring parent", "training", "scoring candidate", "gating"]
RUN_DIR: Final[str] = "run"
#: Warm-up of a fine-tune: a tenth of its steps (at most 50), the weights are already good.
_MAX_WARMUP_STEPS: Final[int] = 50


@dataclass(frozen=True)
class JobSpec:
    """Everything a job needs, JSON-serialisable so it crosses the process boundary.

    ``train_dirs`` may name a directory twice: that is how new samples are weighted up
    against the replayed ones.
    """

    parent_artifact: str
    train_dirs: tuple[str, ...]
    mistakes_dir: str
    job_dir: str
    base_holdout_dir: str | None = None
    steps: int = 300
    batch_size: int = 4
    lr: float = 1e-4
    device: str = "cpu"
    seed: int = 0
    max_base_map_loss_pts: float = DEFAULT_MAX_BASE_MAP_LOSS_PTS
    #: The edges' alarm threshold: the gate counts alarms at it.
    alarm_threshold: float = DEFAULT_ALARM_THRESHOLD
    #: The edges' rollback bounds: how much the base-set rates may worsen.
    max_miss_rate_rise: float = DEFAULT_MAX_MISS_INCREASE
    max_false_alarm_rate_rise: float = DEFAULT_MAX_FALSE_ALARM_INCREASE

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        """Parse a spec written by :meth:`to_dict`."""
        return cls(**{**data, "train_dirs": tuple(data["train_dirs"])})

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**asdict(self), "train_dirs": list(self.train_dirs)}


@dataclass(frozen=True)
class JobResult:
    """The candidate artifact, whether it passed the gate, why, and every figure."""

    artifact_dir: str
    passed: bool
    reasons: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def read(cls, job_dir: Path) -> JobResult:
        """The result a finished job wrote."""
        data = json.loads((job_dir / RESULT_FILE).read_text())
        return cls(
            artifact_dir=data["artifact_dir"],
            passed=bool(data["passed"]),
            reasons=tuple(data["reasons"]),
            metrics={k: float(v) for k, v in data["metrics"].items()},
        )


@dataclass(frozen=True)
class JobProgress:
    """Where a running job is: its phase, and in training the step reached and its loss."""

    phase: JobPhase
    step: int = 0
    steps: int = 0
    loss: float | None = None

    def write(self, job_dir: Path) -> None:
        """Replace ``progress.json`` atomically, so a reader never sees half a file."""
        staging = job_dir / f".{PROGRESS_FILE}.tmp"
        staging.write_text(json.dumps(asdict(self)))
        os.replace(staging, job_dir / PROGRESS_FILE)

    @classmethod
    def read(cls, job_dir: Path) -> JobProgress | None:
        """The latest progress the job wrote, or None before its first write."""
        try:
            data = json.loads((job_dir / PROGRESS_FILE).read_text())
        except FileNotFoundError:
            return None
        return cls(**data)


@dataclass(frozen=True)
class _Predictions:
    """One model's COCO result rows on the recent mistakes and (if any) the base hold-out."""

    mistakes: list[dict[str, Any]]
    base: list[dict[str, Any]] | None


@dataclass(frozen=True)
class _Scores:
    """What the gate needs to know of one model."""

    mistakes_per_frame: float
    base_map50: float | None
    base_alarms: AlarmMistakes | None


@dataclass(frozen=True)
class _HoldOuts:
    """The recent mistakes and the base hold-out (None: not configured), read once."""

    mistakes: CocoDetectionDirectory
    base: CocoDetectionDirectory | None

    @classmethod
    def of(cls, spec: JobSpec) -> _HoldOuts:
        base = spec.base_holdout_dir
        return cls(
            CocoDetectionDirectory(spec.mistakes_dir),
            None if base is None else CocoDetectionDirectory(base),
        )

    def predict(self, model: Any, device: str) -> _Predictions:
        base = self.base
        return _Predictions(
            predict_dataset(model, self.mistakes, device=device),
            None if base is None else predict_dataset(model, base, device=device),
        )

    def scores(self, predictions: _Predictions, thresholds: Mapping[int, float]) -> _Scores:
        """Wrong alarm decisions per frame on the recent mistakes, and on the base set (if
        any) mAP@0.5 of the media and the alarm decisions, at ``thresholds``: where the
        model alarms on the edges (:func:`served_thresholds`)."""
        wrong = alarm_mistakes(self.mistakes.coco, predictions.mistakes, thresholds)
        if self.base is None or predictions.base is None:
            return _Scores(wrong.per_frame, None, None)
        map50 = evaluate_coco(self.base.coco, predictions.base).map50_media
        return _Scores(
            wrong.per_frame,
            map50 if map50 is not None else 0.0,
            alarm_mistakes(self.base.coco, predictions.base, thresholds),
        )


def run_job(spec: JobSpec) -> JobResult:
    """Fine-tune, evaluate, gate; writes ``result.json`` into ``spec.job_dir`` and returns it."""
    job_dir = Path(spec.job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    JobProgress("scoring parent", steps=spec.steps).write(job_dir)
    holdouts = _HoldOuts.of(spec)
    edge_thresholds = alarm_thresholds(spec.alarm_threshold)
    parent = load_artifact(spec.parent_artifact, device=spec.device)
    parent_scores = holdouts.scores(
        holdouts.predict(parent.model, spec.device),
        served_thresholds(parent.card.operating_point, edge_thresholds),
    )

    def on_step(step: int, total: int, losses: Mapping[str, float]) -> None:
        JobProgress("training", step, total, losses["loss"]).write(job_dir)

    seed_everything(spec.seed)
    config = TrainConfig(
        steps=spec.steps,
        batch_size=spec.batch_size,
        lr=spec.lr,
        warmup_steps=min(_MAX_WARMUP_STEPS, spec.steps // 10),
        seed=spec.seed,
    )
    outcome = run_training(
        preset=parent.card.preset,
        data_dirs=[Path(d) for d in spec.train_dirs],
        out_dir=job_dir / RUN_DIR,
        config=config,
        device=spec.device,
        version=f"{parent.card.version}-ft",
        model=load_artifact(spec.parent_artifact, device=spec.device).model.train(),
        on_step=on_step,
    )
    JobProgress("scoring candidate", spec.steps, spec.steps).write(job_dir)
    candidate = load_artifact(outcome.artifact_dir, device=spec.device)
    predictions = holdouts.predict(candidate.model, spec.device)
    candidate_thresholds: Mapping[int, float] = edge_thresholds
    point = None
    base, parent_base = holdouts.base, parent_scores.base_alarms
    if base is not None and predictions.base is not None and parent_base is not None:
        point = choose_operating_point(
            base.coco,
            predictions.base,
            edge_threshold=spec.alarm_threshold,
            max_miss_rate=parent_base.miss_rate,
        )
        record_operating_point(outcome.artifact_dir, point)
        candidate_thresholds = served_thresholds(point, edge_thresholds)
    candidate_scores = holdouts.scores(predictions, candidate_thresholds)
    JobProgress("gating", spec.steps, spec.steps).write(job_dir)
    verdict = gate(
        parent_base_map50=parent_scores.base_map50,
        candidate_base_map50=candidate_scores.base_map50,
        parent_mistakes=parent_scores.mistakes_per_frame,
        candidate_mistakes=candidate_scores.mistakes_per_frame,
        max_base_map_loss_pts=spec.max_base_map_loss_pts,
        parent_base_alarms=parent_scores.base_alarms,
        candidate_base_alarms=candidate_scores.base_alarms,
        rate_bounds=RollbackBounds(
            max_miss_increase=spec.max_miss_rate_rise,
            max_false_alarm_increase=spec.max_false_alarm_rate_rise,
        ),
    )
    metrics = dict(verdict.metrics)
    if point is not None:
        metrics["gate/candidate_alarm_threshold"] = point.alarm_threshold
    result = JobResult(str(outcome.artifact_dir), verdict.passed, verdict.reasons, metrics)
    (job_dir / RESULT_FILE).write_text(json.dumps(asdict(result), indent=1))
    return result


def _child(spec_path: str) -> None:
    run_job(JobSpec.from_dict(json.loads(Path(spec_path).read_text())))


class JobProcess:
    """A job running in a spawned child process (fresh interpreter: no forked torch state)."""

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self.job_dir = Path(spec.job_dir)
        self.job_dir.mkdir(parents=True, exist_ok=True)
        (self.job_dir / RESULT_FILE).unlink(missing_ok=True)
        (self.job_dir / PROGRESS_FILE).unlink(missing_ok=True)
        spec_path = self.job_dir / SPEC_FILE
        spec_path.write_text(json.dumps(spec.to_dict(), indent=1))
        context = multiprocessing.get_context("spawn")
        self._process: BaseProcess = context.Process(
            target=_child, args=(str(spec_path),), name=f"retrain-{self.job_dir.name}"
        )

    def start(self) -> JobProcess:
        """Start the child; returns ``self`` for chaining."""
        self._process.start()
        return self

    def done(self) -> bool:
        """Whether the child has exited."""
        return not self._process.is_alive()

    def progress(self) -> JobProgress | None:
        """What the child last reported (None until it has started working)."""
        return JobProgress.read(self.job_dir)

    def wait(self, timeout_s: float | None = None) -> JobResult:
        """Wait for the child and read its result; a failed child raises TrainingJobError."""
        self._process.join(timeout_s)
        if self._process.is_alive():
            raise TrainingJobError(f"job {self.job_dir} still runs after {timeout_s} s")
        if self._process.exitcode != 0 or not (self.job_dir / RESULT_FILE).is_file():
            raise TrainingJobError(
                f"job {self.job_dir} failed (exit code {self._process.exitcode}); "
                "its traceback is in the consumer's log"
            )
        return JobResult.read(self.job_dir)
