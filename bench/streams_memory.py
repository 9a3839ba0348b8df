"""Benchmark: resident memory of an edge or a cloud worker over a long run, sampled.

Run by hand:

* ``.venv/bin/python -m bench.streams_memory --role edge --preset edge --frames 10000``
* ``.venv/bin/python -m bench.streams_memory --role cloud --frames 10000``

Writes ``--frames`` events up front (edge: PNG frames to ``scanner.frames``; cloud: one
detection and one confirming verdict per frame), starts the worker on that backlog and
samples its ``VmRSS`` once a second together with its progress counter (Prometheus
endpoint). Prints RSS at every tenth of the run, the peak, and the growth from 20 % to the
end: model loading and Faust's buffers settle early, so growth after that is what a leak
would show. The edge model is a randomly initialised ``--preset`` artifact (same size and
cost as a trained one) unless ``--model`` names one; frames are noise PNGs unless
``--images`` names a folder of simulated scans (``leakguard data generate``), e.g.

* ``.venv/bin/python -m bench.streams_memory --role edge --model detector/starter
  --images cluttered/images --claim-check --threads 2 --frames 10000``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from bench.streams_harness import (
    BenchStack,
    bench_stack,
    free_port,
    load_averages,
    metric_value,
    png,
    producer,
    random_model,
    rss_mib,
)
from bench.streams_join import produce_join_events
from schemas import Codec, ScanFrame
from schemas.images import png_payload

console = Console()
#: Progress counter of each role (streams/metrics.py).
#: Frames produced between flushes: the embedded broker reset the connection and died when
#: 10,000 inline 640 px scans (1.7 GB) were queued at once; flushed every 1,000 it took them.
FLUSH_EVERY = 1000
#: A progress counter that does not move for this long is a stalled worker, not a slow one.
STALL_S = 180.0
#: Distinct frame images cycled through (the broker keeps every frame in memory).
IMAGES = 64
PROGRESS_METRIC = {"edge": "leakguard_frames_in_total", "cloud": "leakguard_join_events_in_total"}


def _frame_images(folder: Path | None, size: int) -> list[bytes]:
    """The PNGs of ``folder`` (the first :data:`IMAGES` in name order), else noise PNGs."""
    if folder is None:
        return [png(size, seed) for seed in range(IMAGES)]
    paths = sorted(folder.glob("*.png"))[:IMAGES]
    if not paths:
        raise SystemExit(f"no PNG images in {folder}")
    return [path.read_bytes() for path in paths]


def _produce_frames(
    stack: BenchStack, frames: int, images: list[bytes], *, claim_check: bool
) -> None:
    """``frames`` frames cycling ``images`` over four lanes; inline, or by claim check (the
    images written once to files the frames point at, as a scanner bridge with a shared
    store would send them: the broker then holds references, not 10,000 images)."""
    codec = Codec()
    if claim_check:
        folder = stack.work / "claims"
        folder.mkdir()
        for index, image in enumerate(images):
            (folder / f"{index}.png").write_bytes(image)
        payloads = [
            png_payload(image, uri=str(folder / f"{index}.png"))
            for index, image in enumerate(images)
        ]
    else:
        payloads = [png_payload(image) for image in images]
    out = producer(stack.bootstrap)
    for index in range(frames):
        lane = str(index % 4)
        frame = ScanFrame(
            checkpoint="cp", lane=lane, frame_id=f"cp/{lane}/{index:09d}", scanner_id="s",
            view_id="top", image=payloads[index % len(payloads)],
        )  # fmt: skip
        out.produce(stack.names.frames, key=f"cp/{lane}".encode(), value=codec.encode(frame))
        out.poll(0)
        if index % FLUSH_EVERY == FLUSH_EVERY - 1:
            out.flush(120)
    out.flush(120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=("edge", "cloud"), default="edge")
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--preset", default="edge", help="Edge: preset of the random model.")
    parser.add_argument("--model", type=Path, help="Edge: serve this artifact instead.")
    parser.add_argument("--images", type=Path, help="Edge: cycle the PNGs of this folder.")
    parser.add_argument("--size", type=int, default=128, help="Edge: side of noise frames.")
    parser.add_argument("--threads", type=int, default=1, help="Edge: torch threads.")
    parser.add_argument(
        "--claim-check",
        action="store_true",
        help="Edge: frames refer to image files instead of carrying them, as a scanner bridge "
        "with a shared store sends them (the embedded broker keeps every message in memory).",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    port = free_port()
    target = args.frames if args.role == "edge" else 2 * args.frames
    with bench_stack(work) as stack:
        if args.role == "edge":
            model = (
                args.model.resolve() if args.model else random_model(work / "model", args.preset)
            )
            images = _frame_images(args.images, args.size)
            _produce_frames(stack, args.frames, images, claim_check=args.claim_check)
            role_args: tuple[str, ...] = ("--model", str(model))
            if args.claim_check:
                role_args += ("--claim-check-root", str(stack.work / "claims"))
        else:
            produce_join_events(stack, args.frames, "m")
            role_args = ()
        console.print(f"{args.role} worker, {args.frames} frames; {load_averages()}")
        worker = stack.start_worker(
            args.role,
            *role_args,
            "--frame-store",
            str(work / "fs"),
            "--metrics-port",
            str(port),
            threads=args.threads,
        )
        samples: list[tuple[float, float, float]] = []  # (seconds, progress, RSS MiB)
        started = time.monotonic()
        with Progress(console=console) as bar:
            task = bar.add_task(f"{args.role} worker", total=target)
            done = 0.0
            while done < target:
                if worker.poll() is not None:
                    raise SystemExit(f"worker died; see {work}")
                done = metric_value(port, PROGRESS_METRIC[args.role]) or 0.0
                samples.append((time.monotonic() - started, done, rss_mib(worker.pid)))
                stalled = [s for s in samples if s[1] == done]
                if done < target and samples[-1][0] - stalled[0][0] > STALL_S:
                    raise SystemExit(f"worker stalled at {done:.0f} for {STALL_S} s; see {work}")
                bar.update(task, completed=done)
                time.sleep(1.0)
    console.print(f"done in {samples[-1][0]:.0f} s; {load_averages()}")
    for tenth in range(1, 11):
        at = next(s for s in samples if s[1] >= target * tenth / 10)
        console.print(f"{tenth * 10:3d} % ({at[0]:6.0f} s): RSS {at[2]:7.0f} MiB")
    settled = next(s for s in samples if s[1] >= target * 0.2)[2]
    console.print(
        f"peak RSS {max(s[2] for s in samples):.0f} MiB; growth from 20 % to the end "
        f"{samples[-1][2] - settled:+.0f} MiB"
    )


if __name__ == "__main__":
    main()
