"""Training curves as PNG: losses and learning rate per step, evaluation metrics per step.

Written at the end of every run (and by the CLI) so that a run directory can be judged at a
glance without a notebook. Uses matplotlib's non-interactive Agg backend: training hosts have
no display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["plot_training_curves"]

#: Loss keys drawn on the loss panel; the rest of the history is metadata.
LOSS_KEYS: Final[tuple[str, ...]] = ("loss", "classification", "bbox_regression")
#: Evaluation metrics drawn on the metric panel when present.
METRIC_KEYS: Final[tuple[str, ...]] = ("map50_media", "ap50_95")


def plot_training_curves(history: dict[str, Any], path: Path) -> Path:
    """Draw ``history`` (as kept by :class:`~detector.training.trainer.Trainer`) to ``path``."""
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4))
    steps = history.get("step", [])
    for key in LOSS_KEYS:
        if history.get(key):
            ax_loss.plot(steps, history[key], label=key, linewidth=1)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_title("training loss")
    ax_loss.legend()
    evals = history.get("eval", [])
    for key in METRIC_KEYS:
        points = [(e["step"], e[key]) for e in evals if key in e]
        if points:
            xs, ys = zip(*points, strict=True)
            ax_metric.plot(xs, ys, marker="o", label=key)
    ax_metric.set_ylim(0, 1)
    ax_metric.set_xlabel("step")
    ax_metric.set_title("evaluation")
    if evals:
        ax_metric.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
