"""Resumable training checkpoints: model, optimizer, scheduler, AMP scaler, step and config.

A checkpoint is a directory, written to a temporary sibling and renamed into place so a
crash mid-write never leaves a half checkpoint:

* ``model.safetensors``: the model weights (no pickle);
* ``optim.pt``: optimizer / scheduler / scaler state dicts. They are nested dicts of tensors
  and numbers, saved with ``torch.save`` and read back with ``weights_only=True``, which
  refuses arbitrary objects; checkpoints are local files of one run, never shipped;
* ``state.json``: step, the training config, the preset and the metric history.

Shipped models are artifacts (:mod:`detector.artifacts`), not checkpoints.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from detector.exceptions import CheckpointError

__all__ = ["CheckpointState", "load_checkpoint", "save_checkpoint"]

MODEL_FILE: Final[str] = "model.safetensors"
OPTIM_FILE: Final[str] = "optim.pt"
STATE_FILE: Final[str] = "state.json"


@dataclass(frozen=True)
class CheckpointState:
    """What a resume needs besides the weights: the step reached and the run's record."""

    step: int
    config: dict[str, Any]
    preset: dict[str, Any]
    history: dict[str, Any]


def save_checkpoint(
    directory: Path,
    *,
    model: nn.Module,
    optim_state: dict[str, Any],
    state: CheckpointState,
) -> None:
    """Write the checkpoint atomically to ``directory`` (replacing an older one)."""
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(weights, str(tmp / MODEL_FILE))
    torch.save(optim_state, tmp / OPTIM_FILE)
    record = {
        "step": state.step,
        "config": state.config,
        "preset": state.preset,
        "history": state.history,
    }
    (tmp / STATE_FILE).write_text(json.dumps(record, indent=1))
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(directory: Path, *, model: nn.Module) -> tuple[CheckpointState, dict[str, Any]]:
    """Load weights into ``model``; return the run state and the optimizer-side state dicts.

    Raises :class:`CheckpointError` if a part is missing or the weights do not fit ``model``.
    """
    paths = [directory / name for name in (MODEL_FILE, OPTIM_FILE, STATE_FILE)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {directory} lacks {missing}")
    try:
        model.load_state_dict(load_file(str(paths[0])))
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {directory} does not fit the model: {exc}") from exc
    optim_state: dict[str, Any] = torch.load(paths[1], map_location="cpu", weights_only=True)
    record = json.loads(paths[2].read_text())
    state = CheckpointState(
        step=int(record["step"]),
        config=record["config"],
        preset=record["preset"],
        history=record["history"],
    )
    return state, optim_state
