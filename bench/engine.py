"""Benchmark: the inference engine vs the bare torchvision forward, and serving memory.

Run by hand: ``.venv/bin/python -m bench.engine [--device cpu|cuda] [--preset edge]``.

* Images/s at batch 1 and batch 8 for ``InferenceEngine.predict`` (uint8 arrays in,
  ``DetectedObject`` lists out: conversion, lock, chunking, backbone and head in slices of
  ``slice_size`` images, post-processing) and for the bare ``model(tensors)`` under
  ``torch.inference_mode`` on the same tensors, same model object, interleaved in the same
  run; medians over repeats and the engine overhead in percent.
* Peak resident memory of a fresh process that loads the artifact and serves batch 8, once
  through the engine and once through the bare forward, each measured in its own subprocess
  (``VmHWM``) so this process's own allocations do not count.

The model is freshly initialised (no trained weights are needed to time it); its class
biases are raised so every image yields a full set of detections, which makes
post-processing cost what it costs on a busy bag rather than nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from detector.artifacts import save_artifact
from detector.engine import InferenceEngine
from detector.model import build_retinanet, get_preset

#: Class logit bias giving sigmoid scores around 0.2: above every floor, below alarms.
BUSY_LOGIT_BIAS: Final[float] = -1.4
#: Untimed calls of each path first: the first calls pay for allocation and lazy init.
WARMUP_CALLS: Final[int] = 2
#: ``/proc/self/status`` gives memory in KiB.
KIB: Final[int] = 1024

console = Console()


def _frames(n: int, size: int) -> list[np.ndarray]:
    """Scanner-like frames: white background with random coloured blocks, uint8 HxWx3."""
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(n):
        img = np.full((size, size, 3), 255, dtype=np.uint8)
        for _ in range(12):
            x, y = rng.integers(0, size - 80, 2)
            w, h = rng.integers(10, 80, 2)
            img[y : y + h, x : x + w] = rng.integers(0, 255, 3, dtype=np.uint8)
        frames.append(img)
    return frames


def _make_artifact(preset_name: str, directory: Path) -> Path:
    torch.manual_seed(0)
    model = build_retinanet(get_preset(preset_name))
    model.head.classification_head.cls_logits.bias.data[:] = BUSY_LOGIT_BIAS
    save_artifact(directory, model=model, preset=get_preset(preset_name), version="bench")
    return directory


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def measure_throughput(
    engine: InferenceEngine, *, batch: int, repeats: int, size: int
) -> tuple[float, float, float]:
    """Median images/s of the bare forward and of the engine at ``batch``, and the median
    per-repeat time ratio engine / bare.

    The two paths run back to back in each repeat, alternating which goes first, and the
    overhead is the median of the per-repeat ratios: on a shared machine the load drifts
    between repeats, and neighbouring calls see the same load.
    """
    frames = _frames(batch, size)
    tensors = [t.to(engine.device) for t in engine.preprocess(frames)]
    model = engine.model  # the very same module the engine serves

    def bare() -> object:
        with torch.inference_mode():
            return model(tensors)

    def served() -> object:
        return engine.predict(frames)

    for _ in range(WARMUP_CALLS):  # allocator, kernels, lazy init
        bare(), served()
    bare_s, engine_s = [], []
    for repeat in range(repeats):
        if repeat % 2:
            engine_s.append(_time(served, engine.device))
            bare_s.append(_time(bare, engine.device))
        else:
            bare_s.append(_time(bare, engine.device))
            engine_s.append(_time(served, engine.device))
    ratio = statistics.median(e / b for e, b in zip(engine_s, bare_s, strict=True))
    return batch / statistics.median(bare_s), batch / statistics.median(engine_s), ratio


def serve_rss(artifact: Path, *, device: str, batch: int, size: int, bare: bool) -> None:
    """Child process: load, serve ``batch`` three times (``bare``: the model's own forward on
    the preprocessed frames), print peak RSS (MiB) as JSON."""
    engine = InferenceEngine.from_artifact(artifact, device=device, max_batch_size=batch)
    frames = _frames(batch, size)
    tensors = [t.to(engine.device) for t in engine.preprocess(frames)] if bare else []
    for _ in range(3):
        if bare:
            with torch.inference_mode():
                engine.model(tensors)
        else:
            engine.predict(frames)
    sys.stdout.write(json.dumps({"peak_rss_mib": _peak_rss_kib() / KIB}) + "\n")


def _peak_rss_kib() -> int:
    """This process image's peak RSS. Not ``ru_maxrss``: Linux carries that across ``exec``
    from the parent's memory, so a child spawned by this benchmark would report the parent's
    batch-8 forwards as its own."""
    status = Path("/proc/self/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1])


def _child_rss(artifact: Path, args: argparse.Namespace, *, bare: bool) -> float:
    command = [sys.executable, "-m", "bench.engine", "--serve-rss", str(artifact)]
    command += ["--device", args.device, "--size", str(args.size), "--threads", str(args.threads)]
    command += ["--bare"] if bare else []
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["peak_rss_mib"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--preset", default="edge")
    parser.add_argument("--size", type=int, default=640, help="frame side in pixels")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (1: stable on shared hosts)"
    )
    parser.add_argument("--serve-rss", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.serve_rss is not None:
        serve_rss(args.serve_rss, device=args.device, batch=8, size=args.size, bare=args.bare)
        return
    with tempfile.TemporaryDirectory() as tmp:
        artifact = _make_artifact(args.preset, Path(tmp) / "artifact")
        engine = InferenceEngine.from_artifact(artifact, device=args.device, max_batch_size=8)
        table = Table(
            "batch", "bare img/s", "engine img/s", "engine overhead (median paired)",
            title=f"{args.preset} @ {args.size}px on {args.device} ({args.threads} threads), "
            f"medians of {args.repeats}",
        )  # fmt: skip
        for batch in (1, 8):
            bare, served, ratio = measure_throughput(
                engine, batch=batch, repeats=args.repeats, size=args.size
            )
            table.add_row(str(batch), f"{bare:.2f}", f"{served:.2f}", f"{100 * (ratio - 1):+.1f} %")
        console.print(table)
        served_rss = _child_rss(artifact, args, bare=False)
        bare_rss = _child_rss(artifact, args, bare=True)
        console.print(
            f"peak RSS serving {args.preset} at batch 8 on {args.device}: engine "
            f"{served_rss:.0f} MiB, bare forward {bare_rss:.0f} MiB"
        )


if __name__ == "__main__":
    main()
