"""Benchmark: frames through a real edge worker versus the bare engine, same frames, same run.

Run by hand: ``.venv/bin/python -m bench.streams [--frames 400 --rounds 5 --preset tiny]``.

One embedded broker, the spec's topics under a fresh prefix, one ``leakguard worker --role
edge`` subprocess (one torch thread, frame store on disk). Each round:

1. produces ``--frames`` PNG frames at once and reads the detections back: frames/s through
   the detect agent, from the first frame produced to the last detection read;
2. with the worker idle again, runs ``InferenceEngine.predict`` in this process (one torch
   thread) on the same frames in batches of 8, given the PNG bytes (what a frame carries) and
   given decoded arrays (inference alone);
3. prints the ratios and the load averages before and after.

Then a paced run at half the agent's median throughput gives the latency from frame
produced to detection consumed (p50/p95): frames arrive as a scanner sends them, so the
figure is the per-frame cost, not queueing behind a backlog. Medians over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from confluent_kafka import Message
from rich.console import Console

from bench.streams_harness import (
    BenchStack,
    TopicReader,
    bench_stack,
    cpu_s,
    load_averages,
    png,
    producer,
    random_model,
    rss_mib,
)
from detector.engine import ImageInput, InferenceEngine, decode_png
from schemas import Codec, Detection, ScanFrame
from schemas.images import png_payload

console = Console()
#: The engine's own batch size (and the worker's default): the fair baseline.
ENGINE_BATCH = 8


def _frame(index: int, image: bytes, run: str) -> ScanFrame:
    lane = str(index % 4)
    return ScanFrame(
        checkpoint="cp",
        lane=lane,
        frame_id=f"cp/{lane}/{run}{index:09d}",
        scanner_id="s",
        view_id="top",
        image=png_payload(image),
    )


class Detect:
    """Sends frames to the edge worker and times their detections."""

    def __init__(self, stack: BenchStack, images: list[bytes]) -> None:
        self.codec = Codec()
        self.stack = stack
        self.images = images
        self.out = producer(stack.bootstrap, **{"linger.ms": 1})
        self.reader = TopicReader(stack.bootstrap, stack.names.detections)
        self.sent: dict[str, float] = {}
        self.received: dict[str, float] = {}

    def _on_detection(self, message: Message, at: float) -> None:
        frame_id = self.codec.decode(message.value(), Detection).frame_id
        self.received.setdefault(frame_id, at)

    def send(self, frame: ScanFrame) -> None:
        self.sent[frame.frame_id] = time.monotonic()
        key = f"{frame.checkpoint}/{frame.lane}".encode()
        self.out.produce(self.stack.names.frames, key=key, value=self.codec.encode(frame))
        self.out.poll(0)

    def wait(self, frame_ids: list[str], timeout_s: float) -> None:
        self.out.flush(30)
        wanted = set(frame_ids)
        self.reader.read(
            self._on_detection, until=lambda: wanted <= self.received.keys(), timeout_s=timeout_s
        )
        missing = wanted - self.received.keys()
        if missing:
            raise SystemExit(f"{len(missing)} frames got no detection; see {self.stack.work}")

    def burst(self, count: int, run: str) -> float:
        """Frames/s for ``count`` frames produced at once."""
        frames = [_frame(i, self.images[i % len(self.images)], run) for i in range(count)]
        for frame in frames:
            self.send(frame)
        ids = [f.frame_id for f in frames]
        self.wait(ids, timeout_s=1800)
        first = min(self.sent[i] for i in ids)
        return count / (max(self.received[i] for i in ids) - first)

    def paced(self, count: int, rate_hz: float) -> list[float]:
        """Produce-to-consume latencies (s) of ``count`` frames sent at ``rate_hz``."""
        frames = [_frame(i, self.images[i % len(self.images)], "p") for i in range(count)]
        started = time.monotonic()
        for index, frame in enumerate(frames):
            wait_s = started + index / rate_hz - time.monotonic()
            self.reader.read(self._on_detection, until=lambda: False, timeout_s=wait_s)
            self.send(frame)
        ids = [f.frame_id for f in frames]
        self.wait(ids, timeout_s=600)
        return sorted(self.received[i] - self.sent[i] for i in ids)

    def close(self) -> None:
        self.out.flush(10)
        self.reader.close()


def _engine_fps(engine: InferenceEngine, inputs: Sequence[ImageInput]) -> tuple[float, float]:
    """Frames/s and CPU seconds per frame of the bare engine on ``inputs``."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, len(inputs), ENGINE_BATCH):
        engine.predict(inputs[start : start + ENGINE_BATCH])
    cpu_per_frame = (time.process_time() - cpu_started) / len(inputs)
    return len(inputs) / (time.perf_counter() - started), cpu_per_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=400, help="Frames per round.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--size", type=int, default=128, help="Frame side in pixels.")
    parser.add_argument("--latency-frames", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    model = random_model(work / "model", args.preset)
    images = [png(args.size, seed) for seed in range(8)]
    frames_png = [images[i % len(images)] for i in range(args.frames)]
    engine = InferenceEngine.from_artifact(model)
    engine.predict(frames_png[:ENGINE_BATCH])
    console.print(f"preset {args.preset}, {args.size} px frames, {args.frames} per round")
    rows: list[tuple[float, float, float, float]] = []
    with bench_stack(work) as stack:
        worker = stack.start_worker(
            "edge", "--model", str(model), "--frame-store", str(work / "fs")
        )
        detect = Detect(stack, images)
        try:
            detect.burst(ENGINE_BATCH, "warm")  # group joined, model loaded, first batch run
            for round_ in range(1, args.rounds + 1):
                before, cpu_before = load_averages(), cpu_s(worker.pid)
                agent = detect.burst(args.frames, f"r{round_}-")
                agent_cpu = (cpu_s(worker.pid) - cpu_before) / args.frames
                on_png, png_cpu = _engine_fps(engine, frames_png)
                on_arrays, _ = _engine_fps(engine, [decode_png(i) for i in frames_png])
                rows.append((agent, on_png, on_arrays, png_cpu / agent_cpu))
                console.print(
                    f"round {round_}: agent {agent:.1f} f/s, engine on PNG {on_png:.1f} f/s "
                    f"(ratio {agent / on_png:.2f}), engine on arrays {on_arrays:.1f} f/s "
                    f"(ratio {agent / on_arrays:.2f}); CPU ms/frame worker "
                    f"{agent_cpu * 1000:.1f}, engine on PNG {png_cpu * 1000:.1f}; "
                    f"before {before}, after {load_averages()}"
                )
            agent_median = statistics.median(r[0] for r in rows)
            rate = agent_median / 2
            latencies = detect.paced(args.latency_frames, rate)
            rss = rss_mib(worker.pid)
        finally:
            detect.close()
    console.print(
        f"median agent {agent_median:.1f} f/s; median ratio vs engine on PNG "
        f"{statistics.median(r[0] / r[1] for r in rows):.2f}, vs engine on arrays "
        f"{statistics.median(r[0] / r[2] for r in rows):.2f}; median CPU ratio (engine CPU "
        f"per frame / worker CPU per frame) {statistics.median(r[3] for r in rows):.2f}"
    )
    p50_ms = statistics.median(latencies) * 1000
    p95_ms = latencies[int(0.95 * (len(latencies) - 1))] * 1000
    console.print(
        f"latency produced -> consumed at {rate:.1f} frames/s ({args.latency_frames} frames): "
        f"p50 {p50_ms:.0f} ms, p95 {p95_ms:.0f} ms; {load_averages()}"
    )
    console.print(f"edge worker RSS after the run: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
