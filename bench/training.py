"""Benchmark: training images/s of the detector presets, float32 against bfloat16 autocast.

Run by hand: ``.venv/bin/python -m bench.training [--presets edge edge-resnet18]
[--size 640] [--repeats 5] [--threads 2]``.

For every preset and precision it times ``Trainer.train_step`` (our loop: autocast, frozen
early layers, clipping, scheduler) and, interleaved in the same run on the same batch, the
bare torchvision step it wraps (``model(images, targets)``, backward, AdamW) under the same
autocast and with the same layers frozen, so the table shows both what each configuration
buys and what the trainer costs on top. The batch is four simulated ``cluttered`` scenes.
Medians over ``--repeats`` paired steps after one untimed warm-up step each.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import torch
from rich.console import Console
from rich.table import Table

from detector.model import build_retinanet, get_preset
from detector.model.builder import early_backbone_parameters
from detector.sim.scenes import get_preset as get_scene_preset
from detector.sim.simulate import simulate
from detector.training import Sample, TrainConfig, Trainer
from detector.training.dataset import boxes_and_labels, to_tensor
from detector.training.trainer import autocast_dtype

#: Images per step, as the CPU starter trains.
BATCH: Final[int] = 4
#: Seed of the benchmark scenes (any seed: only their cost matters).
SCENE_SEED: Final[int] = 4242

console = Console()


def _batch(size: int) -> list[Sample]:
    scene = get_scene_preset("cluttered")
    samples = []
    for index in range(BATCH):
        image = simulate(scene, seed=SCENE_SEED, index=index, width_px=size, height_px=size)
        boxes, labels = boxes_and_labels(image.objects)
        samples.append(Sample(to_tensor(image.rgb), boxes, labels, index))
    return samples


def _bare_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, dtype: torch.dtype | None
) -> Callable[[list[Sample]], None]:
    def step(samples: list[Sample]) -> None:
        model.train()
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            losses = model([s.image for s in samples], [s.target() for s in samples])
        loss = sum(losses.values(), torch.zeros(()))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _median_images_per_s(step: Callable[[list[Sample]], object], batch: list[Sample]) -> float:
    start = time.perf_counter()
    step(batch)
    return BATCH / (time.perf_counter() - start)


def bench_preset(name: str, *, amp: bool, batch: list[Sample], repeats: int) -> tuple[float, float]:
    """Median images/s of the trainer and of the bare step for one preset and precision."""
    preset = get_preset(name)
    torch.manual_seed(0)
    ours = build_retinanet(preset)
    torch.manual_seed(0)
    bare = build_retinanet(preset)
    frozen_steps = 10**6 if preset.backbone_weights else 0
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(
            model=ours,
            preset=preset,
            config=TrainConfig(
                steps=10**6,
                batch_size=BATCH,
                augment=False,
                amp=amp,
                freeze_early_steps=frozen_steps,
            ),
            train_data=batch,
            out_dir=Path(out),
        )
        if frozen_steps:
            for parameter in early_backbone_parameters(bare):
                parameter.requires_grad_(False)
        optimizer = torch.optim.AdamW([p for p in bare.parameters() if p.requires_grad], lr=1e-4)
        bare_step = _bare_step(bare, optimizer, trainer.amp_dtype)
        trainer.train_step(batch)
        bare_step(batch)
        ours_rates, bare_rates = [], []
        for _ in range(repeats):
            ours_rates.append(_median_images_per_s(trainer.train_step, batch))
            bare_rates.append(_median_images_per_s(bare_step, batch))
    return statistics.median(ours_rates), statistics.median(bare_rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["edge", "edge-resnet18"])
    parser.add_argument("--size", type=int, default=640, help="scene side in pixels")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = _batch(args.size)
    native = autocast_dtype(torch.device("cpu"))
    table = Table(
        "preset", "precision", "trainer img/s", "bare img/s", "trainer overhead",
        title=f"training, {args.size} px, batch {BATCH}, {args.threads} threads, "
        f"median of {args.repeats}",
    )  # fmt: skip
    for name in args.presets:
        for amp in (False, True):
            if amp and native is None:
                console.print("this CPU has no native bfloat16: float32 only")
                continue
            ours, bare = bench_preset(name, amp=amp, batch=batch, repeats=args.repeats)
            precision = "bfloat16" if amp else "float32"
            overhead = 100 * (bare / ours - 1)
            table.add_row(name, precision, f"{ours:.2f}", f"{bare:.2f}", f"{overhead:+.1f} %")
    console.print(table)


if __name__ == "__main__":
    main()
