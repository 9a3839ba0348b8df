"""``leakguard train`` and ``leakguard eval``: train a RetinaNet preset, evaluate an artifact.

The CLI root mounts :func:`train_command` and :func:`eval_command` (``app`` holds both for
standalone use). This layer alone prints and exits; the library raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from torchvision.models.detection import RetinaNet

from detector.artifacts import LoadedArtifact, load_artifact
from detector.evaluation.report import EvaluationReport, format_percent, write_report
from detector.evaluation.runner import evaluate_sets
from detector.exceptions import DetectorError, ModelConfigError
from detector.model.builder import build_retinanet
from detector.model.presets import DetectorPreset, get_preset
from detector.model.transfer import differs_only_in_anchors, init_from
from detector.training.dataset import CocoDetectionDirectory
from detector.training.run import run_training, seed_everything
from detector.training.simulated import DEFAULT_SCENE_MIX, SceneMix, parse_scene_mix
from detector.training.trainer import TrainConfig
from infra.commands.choices import ModelPresetName, OptimizerName
from infra.commands.tables import folding_table
from leakguard.classes import DEFAULT_ALARM_THRESHOLD, alarm_thresholds

__all__ = ["app", "eval_command", "resolve_device", "train_command"]

_console = Console(stderr=True)
#: Without a terminal (a background run writing a log) a progress line every N steps.
_LOG_EVERY_STEPS = 50
DEFAULT_SCENE_MIX_TEXT = SceneMix(DEFAULT_SCENE_MIX).describe()


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda`` without a GPU is an error."""
    if device not in ("auto", "cpu", "cuda"):
        raise ModelConfigError(f"--device must be auto, cpu or cuda, not {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelConfigError("--device cuda but no CUDA device is available")
    return device


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console,
    )


def train_command(
    out: Annotated[
        Path, typer.Option(help="Run folder: checkpoint/, model/, best/, curves, eval/.")
    ],
    data: Annotated[
        list[Path] | None,
        typer.Option(help="Training set (images/*.png + annotations.json); repeat to mix sets."),
    ] = None,
    sim: Annotated[
        str | None,
        typer.Option(
            help="Render a new scene for every sample from simulator presets and shares, "
            f"e.g. {DEFAULT_SCENE_MIX_TEXT} (with or instead of --data)."
        ),
    ] = None,
    sim_seed: Annotated[
        int, typer.Option(help="Seed of the rendered scenes; evaluate on another seed.")
    ] = 1000,
    preset: Annotated[ModelPresetName, typer.Option(help="Model preset.")] = "edge",
    eval_data: Annotated[
        Path | None, typer.Option(help="Held-out set for periodic and final evaluation.")
    ] = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps.", min=1)] = 2000,
    batch_size: Annotated[int, typer.Option(help="Images per step.", min=1)] = 4,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 2e-4,
    optimizer: Annotated[OptimizerName, typer.Option(help="Optimiser.")] = "adamw",
    warmup_steps: Annotated[int, typer.Option(help="Linear warm-up steps.", min=0)] = 200,
    eval_every: Annotated[int, typer.Option(help="Evaluate every N steps (0: end).", min=0)] = 0,
    checkpoint_every: Annotated[int, typer.Option(help="Checkpoint every N steps.", min=0)] = 200,
    seed: Annotated[int, typer.Option(help="Seed of init, sample order, augmentation.")] = 0,
    augment: Annotated[bool, typer.Option(help="Flips, quarter turns, scale, gain.")] = True,
    workers: Annotated[int, typer.Option(help="Data loader worker processes.", min=0)] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    amp: Annotated[
        bool, typer.Option(help="Mixed precision: float16 on CUDA, bfloat16 on a CPU with it.")
    ] = True,
    freeze_early_steps: Annotated[
        int, typer.Option(help="Keep the backbone's stem and first stage frozen this long.", min=0)
    ] = 0,
    version: Annotated[str, typer.Option(help="Version written to the model card.")] = "0.0.0-dev",
    resume: Annotated[bool, typer.Option(help="Continue from out/checkpoint if present.")] = True,
    half: Annotated[bool, typer.Option(help="Store float16 weights (half the size).")] = False,
    init: Annotated[
        Path | None,
        typer.Option(
            help="Start from this artifact's weights instead of the preset's initial ones, "
            "e.g. a committed run's best/ when its checkpoint is gone. Its preset must be "
            "--preset, or differ only in anchors (the head's two output layers then start "
            "fresh)."
        ),
    ] = None,
) -> None:
    """Train a RetinaNet preset; writes a safetensors artifact, curves and reports.

    A run resumes from OUT/checkpoint with one warm-up and one schedule over --steps, so a
    long run can be stopped and continued at will; --sim renders a fresh scene per sample.
    """
    try:
        config = TrainConfig(
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            optimizer="sgd" if optimizer == "sgd" else "adamw",
            warmup_steps=warmup_steps,
            eval_every_steps=eval_every,
            checkpoint_every_steps=checkpoint_every,
            seed=seed,
            augment=augment,
            num_workers=workers,
            amp=amp,
            freeze_early_steps=freeze_early_steps,
        )
        scene_mix = parse_scene_mix(sim) if sim is not None else None
        chosen_preset = get_preset(preset)
        chosen = resolve_device(device)
        seed_everything(seed)
        start: LoadedArtifact | None = None
        model: RetinaNet | None = None
        if init is not None:
            start = load_artifact(init, device=chosen)
            model = _initial_model(init, start, chosen_preset, chosen)
        with _progress() as progress:
            task = progress.add_task(f"train {preset} on {chosen}", total=steps, info="")

            def on_step(step: int, total: int, losses: Mapping[str, float]) -> None:
                progress.update(task, completed=step, info=f"loss {losses['loss']:.3f}")
                if not _console.is_terminal and step % _LOG_EVERY_STEPS == 0:
                    _console.print(f"step {step}/{total} loss {losses['loss']:.3f}")

            def on_eval(metrics: Mapping[str, float]) -> None:
                shown = ", ".join(f"{k} {100 * v:.1f}" for k, v in metrics.items() if "50" in k)
                _console.print(f"eval at step {progress.tasks[task].completed:.0f}: {shown}")

            outcome = run_training(
                preset=chosen_preset,
                model=model,
                data_dirs=data or [],
                out_dir=out,
                config=config,
                eval_dir=eval_data,
                device=chosen,
                version=version,
                resume=resume,
                on_step=on_step,
                on_eval=on_eval,
                half_artifact=half,
                scene_mix=scene_mix,
                scene_seed=sim_seed,
                parent=None if start is None else start.card,
            )
    except DetectorError as exc:
        _console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    _console.print(f"artifact: {outcome.artifact_dir}  curves: {outcome.curves_png}")
    if outcome.report is not None:
        _print_summary(outcome.report.flat_metrics())


def _initial_model(
    init: Path, start: LoadedArtifact, preset: DetectorPreset, device: str
) -> RetinaNet:
    """The model a run starts from with ``--init`` (``start``, loaded from ``init``): the
    artifact's, or ``preset``'s with every weight of the artifact whose shape still fits
    (another anchor set)."""
    if start.card.preset == preset:
        return start.model.train()
    if not differs_only_in_anchors(start.card.preset, preset):
        raise ModelConfigError(
            f"--init {init} is a {start.card.preset.name} model, not {preset.name}"
        )
    model = build_retinanet(preset, pretrained=False).to(device)
    fresh = init_from(model, start.model)
    _console.print(
        f"--init {init}: other anchors than {preset.name}'s; every weight copied but "
        f"{len(fresh)} of the head's output layers ({', '.join(fresh)}), which start fresh"
    )
    return model.train()


def _print_summary(metrics: Mapping[str, float]) -> None:
    table = folding_table("metric", "value", title="evaluation")
    for name, value in metrics.items():
        table.add_row(name, format_percent(value))
    _console.print(table)


def eval_command(
    model: Annotated[Path, typer.Option(help="Artifact folder (model.safetensors + card).")],
    data: Annotated[
        list[Path],
        typer.Option(
            help="Data set: images/*.png + annotations.json. Repeat it to score several sets "
            "as one (e.g. a cluttered set and a no-media set of clean bags for the bag "
            "figures); each set's own report goes to OUT/<set folder name>/."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("eval-report"),
    threshold: Annotated[
        float, typer.Option(help="Operating alarm threshold for every storage medium.")
    ] = DEFAULT_ALARM_THRESHOLD,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.", min=1)] = 4,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """COCO AP (pycocotools), bag-level and per-object alarm figures along the operating curve;
    writes report.json, summary.md, detections.json, PR PNGs."""
    try:
        chosen = resolve_device(device)
        loaded = load_artifact(model, device=chosen)
        sets = [CocoDetectionDirectory(root) for root in data]
        with _progress() as progress:
            total = sum(len(s) for s in sets)
            task = progress.add_task(f"eval {loaded.card.version}", total=total, info="")
            report = evaluate_sets(
                loaded.model,
                sets,
                thresholds=alarm_thresholds(threshold),
                device=chosen,
                batch_size=batch_size,
                model_version=loaded.card.version,
                on_batch=lambda done, _total: progress.update(task, completed=done),
            )
        written = write_report(report.combined, out)
        if len(sets) > 1:
            for name, own in report.per_set.items():
                write_report(own, out / name)
    except DetectorError as exc:
        _console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    _print_summary(report.combined.flat_metrics())
    if len(sets) > 1:
        _print_sets(report.per_set)
    _console.print(f"report: {written['json']}  summary: {written['markdown']}")


def _print_sets(per_set: Mapping[str, EvaluationReport]) -> None:
    table = folding_table("set", "images", "mAP@0.5 media", "bags detected", "clean bags alarmed")
    for name, own in per_set.items():
        table.add_row(
            name,
            str(own.num_images),
            format_percent(own.coco.map50_media),
            format_percent(own.bags.detection_rate),
            format_percent(own.bags.false_alarm_rate),
        )
    _console.print(table)


app = typer.Typer(help="Train and evaluate the RetinaNet detector.", no_args_is_help=True)
app.command("train")(train_command)
app.command("eval")(eval_command)
