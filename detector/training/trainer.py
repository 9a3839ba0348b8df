"""The RetinaNet training loop: AdamW/SGD, warm-up + cosine, clipping, mixed precision,
frozen early layers for a first stage, resumable.

Fresh detection heads diverge easily in the first hundred steps (focal loss on random
features, GroupNorm statistics settling), hence the linear warm-up and gradient clipping.
One warm-up and one cosine schedule span the whole run, however many times it is resumed.
Mixed precision is float16 with loss scaling on CUDA and bfloat16 (no scaling needed) on a
CPU that computes it natively, where it nearly halves a step's time.
The loop is deterministic for a given seed: the sample order and every augmentation draw
derive from ``(seed, position in the stream)``, so a resumed run sees exactly the batches
an uninterrupted one would have seen.

The loop never prints: progress goes to an injected :class:`StepCallback`, metrics to the
returned history; the CLI draws the progress bar.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchvision.models.detection.retinanet import RetinaNet

from detector.exceptions import CheckpointError, DatasetError, ModelConfigError
from detector.model.builder import early_backbone_parameters
from detector.model.presets import DetectorPreset
from detector.training.augment import Augmenter
from detector.training.checkpoint import CheckpointState, load_checkpoint, save_checkpoint
from detector.training.dataset import Sample

__all__ = [
    "EvaluateFn",
    "StepCallback",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "autocast_dtype",
]

logger = logging.getLogger(__name__)

#: Sub-directory of the run directory that holds the latest resumable checkpoint.
CHECKPOINT_DIR: Final[str] = "checkpoint"
#: Options a resumed run must share with its checkpoint, or it would not continue the same
#: schedule and sample stream (intervals and worker counts may change freely).
_RESUME_MUST_MATCH: Final[tuple[str, ...]] = (
    "steps",
    "batch_size",
    "optimizer",
    "lr",
    "warmup_steps",
    "seed",
)
#: Large odd multiplier that spreads per-sample augmentation seeds of neighbouring seeds.
_SEED_STRIDE: Final[int] = 1_000_003


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation options of one run (recorded in checkpoints and model cards)."""

    steps: int = 2000
    batch_size: int = 4
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 2e-4
    weight_decay: float = 0.05
    momentum: float = 0.9
    warmup_steps: int = 200
    min_lr_ratio: float = 0.01
    grad_clip_norm: float = 10.0
    seed: int = 0
    eval_every_steps: int = 0
    checkpoint_every_steps: int = 200
    augment: bool = True
    amp: bool = True
    num_workers: int = 0
    freeze_early_steps: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ModelConfigError("steps and batch_size must be >= 1")
        if self.freeze_early_steps < 0:
            raise ModelConfigError("freeze_early_steps must be >= 0")
        if self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ModelConfigError("lr must be > 0 and min_lr_ratio in [0, 1]")
        if min(self.warmup_steps, self.eval_every_steps, self.checkpoint_every_steps) < 0:
            raise ModelConfigError("step intervals must be >= 0 (0 disables)")


class StepCallback(Protocol):
    """Called after every optimiser step with the step reached and its losses."""

    def __call__(self, step: int, total: int, losses: Mapping[str, float]) -> None: ...


class EvaluateFn(Protocol):
    """Scores ``model`` (in eval mode, at optimiser step ``step``) on held-out data; returns
    flat metric name -> value."""

    def __call__(self, model: RetinaNet, step: int, /) -> Mapping[str, float]: ...


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision type for ``device``: float16 on CUDA, bfloat16 on a CPU with
    native bfloat16 (AVX-512 BF16 or AMX) kernels, else ``None`` (float32 throughout)."""
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return None


@dataclass
class TrainResult:
    """The trained model, the step reached and the run's loss / metric history."""

    model: RetinaNet
    step: int
    history: dict[str, Any] = field(default_factory=dict)


def lr_factor(step: int, *, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warm-up from ~0 to 1, then cosine decay to ``min_ratio`` at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class SampleSource(Protocol):
    """What the trainer reads: a sized, indexable collection of samples (a map-style data set)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...


class _AugmentedView(Dataset[Sample]):
    """Indexes by ``(sample index, augmentation seed)`` so loader workers stay deterministic."""

    def __init__(self, data: SampleSource, augmenter: Augmenter | None) -> None:
        self.data, self.augmenter = data, augmenter

    def __getitem__(self, key: tuple[int, int]) -> Sample:
        index, seed = key
        sample = self.data[index]
        if self.augmenter is None:
            return sample
        return self.augmenter(sample, torch.Generator().manual_seed(seed))


def _stream_seed(seed: int, counter: int, *, stream: int) -> int:
    """Distinct seeds per (run seed, counter) for the order stream (0) and augmentation (1)."""
    return (seed * _SEED_STRIDE + counter) * 2 + stream


def _batches(n: int, *, seed: int, batch_size: int, start: int, stop: int) -> Iterator[list[Any]]:
    """Batches of ``(index, aug_seed)`` for steps ``start..stop-1``; epochs reshuffle by seed."""
    order: list[int] = []
    order_epoch = -1
    for step in range(start, stop):
        batch = []
        for slot in range(batch_size):
            position = step * batch_size + slot
            if position // n != order_epoch:
                order_epoch = position // n
                generator = torch.Generator().manual_seed(_stream_seed(seed, order_epoch, stream=0))
                order = torch.randperm(n, generator=generator).tolist()
            batch.append((order[position % n], _stream_seed(seed, position, stream=1)))
        yield batch


def _collate(batch: list[Sample]) -> list[Sample]:
    return batch


class Trainer:
    """Trains ``model`` on ``train_data`` and checkpoints to ``out_dir / "checkpoint"``.

    ``evaluate`` (optional) runs every ``config.eval_every_steps`` and at the end; its
    metrics join the history. ``on_step`` receives progress.
    """

    def __init__(
        self,
        *,
        model: RetinaNet,
        preset: DetectorPreset,
        config: TrainConfig,
        train_data: SampleSource,
        out_dir: Path,
        device: torch.device | str = "cpu",
        augmenter: Augmenter | None = None,
        evaluate: EvaluateFn | None = None,
        on_step: StepCallback | None = None,
    ) -> None:
        self.model, self.preset, self.config = model, preset, config
        self.device = torch.device(device)
        self.out_dir = Path(out_dir)
        self.train_data = train_data
        self.augmenter = augmenter if augmenter is not None or not config.augment else Augmenter()
        self.evaluate, self.on_step = evaluate, on_step
        self.amp_dtype = autocast_dtype(self.device) if config.amp else None
        self.model.to(self.device)
        self._early = early_backbone_parameters(model) if config.freeze_early_steps else []
        self.optimizer = self._build_optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_factor(
                s,
                warmup_steps=config.warmup_steps,
                total_steps=config.steps,
                min_ratio=config.min_lr_ratio,
            ),
        )
        # bfloat16 has float32's exponent range: only float16 needs loss scaling.
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.amp_dtype == torch.float16
        )
        self.history: dict[str, Any] = {"step": [], "lr": [], "loss": [], "eval": []}
        self.step = 0

    def _build_optimizer(self) -> torch.optim.Optimizer:
        # No weight decay on norm scales and biases: decaying them only hurts from scratch.
        decay = [p for p in self.model.parameters() if p.requires_grad and p.ndim > 1]
        no_decay = [p for p in self.model.parameters() if p.requires_grad and p.ndim <= 1]
        groups = [
            {"params": decay, "weight_decay": self.config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if self.config.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=self.config.lr, momentum=self.config.momentum)
        return torch.optim.AdamW(groups, lr=self.config.lr)

    @property
    def checkpoint_dir(self) -> Path:
        """Where the latest resumable checkpoint lives."""
        return self.out_dir / CHECKPOINT_DIR

    def _state(self) -> CheckpointState:
        return CheckpointState(
            step=self.step,
            config=asdict(self.config),
            preset=self.preset.to_dict(),
            history=self.history,
        )

    def save(self) -> None:
        """Write a resumable checkpoint of the current step."""
        optim_state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }
        save_checkpoint(
            self.checkpoint_dir, model=self.model, optim_state=optim_state, state=self._state()
        )

    def resume(self) -> bool:
        """Load the checkpoint in ``out_dir`` if there is one; ``False`` if none exists."""
        if not self.checkpoint_dir.exists():
            return False
        state, optim_state = load_checkpoint(self.checkpoint_dir, model=self.model)
        if state.preset != self.preset.to_dict():
            raise CheckpointError("checkpoint was written for another preset")
        ours = asdict(self.config)
        changed = [k for k in _RESUME_MUST_MATCH if state.config.get(k) != ours[k]]
        if changed:
            raise CheckpointError(f"checkpoint was written with other {changed}")
        self.model.to(self.device)
        self.optimizer.load_state_dict(optim_state["optimizer"])
        self.scheduler.load_state_dict(optim_state["scheduler"])
        self.scaler.load_state_dict(optim_state["scaler"])
        self.step, self.history = state.step, state.history
        return True

    def train_step(self, samples: list[Sample]) -> dict[str, float]:
        """One optimiser step on ``samples``; returns the losses (``loss`` = their sum)."""
        self.model.train()
        frozen = self.step < self.config.freeze_early_steps
        for parameter in self._early:
            parameter.requires_grad_(not frozen)
        images = [s.image.to(self.device, non_blocking=True) for s in samples]
        targets = [{k: v.to(self.device) for k, v in s.target().items()} for s in samples]
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
        ):
            loss_dict: dict[str, Tensor] = self.model(images, targets)
        loss = sum(loss_dict.values(), torch.zeros((), device=self.device))
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            # One bad batch (e.g. an fp16 overflow) must not poison the weights; skip it.
            logger.warning("non-finite loss at step %d, batch skipped", self.step)
        else:
            scaled: Tensor = self.scaler.scale(loss)
            scaled.backward()  # type: ignore[no-untyped-call]
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.scheduler.step()
        self.step += 1
        losses = {k: float(v.detach().float()) for k, v in loss_dict.items()}
        losses["loss"] = float(loss.detach())
        return losses

    def _record(self, losses: Mapping[str, float]) -> None:
        self.history["step"].append(self.step)
        self.history["lr"].append(self.scheduler.get_last_lr()[0])
        for key, value in losses.items():
            self.history.setdefault(key, []).append(value)

    def _run_eval(self) -> None:
        if self.evaluate is None:
            return
        self.model.eval()
        metrics = dict(self.evaluate(self.model, self.step))
        self.history["eval"].append({"step": self.step, **metrics})

    def fit(self, *, resume: bool = True, until_step: int | None = None) -> TrainResult:
        """Train to ``config.steps`` (from the checkpoint when ``resume`` and one exists).

        ``until_step`` stops early with a checkpoint (a time-sliced job resumes it later);
        the schedule still spans ``config.steps``.
        """
        if len(self.train_data) == 0:
            raise DatasetError("the training set holds no images")
        torch.manual_seed(self.config.seed)
        if resume:
            self.resume()
        cfg = self.config
        loader = DataLoader(
            _AugmentedView(self.train_data, self.augmenter),
            batch_sampler=_batches(
                len(self.train_data),
                seed=cfg.seed,
                batch_size=cfg.batch_size,
                start=self.step,
                stop=min(cfg.steps, until_step if until_step is not None else cfg.steps),
            ),
            collate_fn=_collate,
            num_workers=cfg.num_workers,
        )
        for samples in loader:
            losses = self.train_step(samples)
            self._record(losses)
            if self.on_step is not None:
                self.on_step(self.step, cfg.steps, losses)
            if cfg.eval_every_steps and self.step % cfg.eval_every_steps == 0:
                self._run_eval()
            if cfg.checkpoint_every_steps and self.step % cfg.checkpoint_every_steps == 0:
                self.save()
        evaluated = self.history["eval"] and self.history["eval"][-1]["step"] == self.step
        if not evaluated:
            self._run_eval()
        self.save()
        self.model.eval()
        return TrainResult(model=self.model, step=self.step, history=self.history)
