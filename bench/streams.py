"""Benchmark: frames through a real edge worker versus the bare engine, same frames, same run.

Run by hand: ``.venv/bin/python -m bench.streams [--frames 400] [--preset tiny|edge]``.

Starts the embedded broker, creates the spec's topics under a fresh prefix, starts a real
``leakguard worker --role edge`` subprocess (one torch thread), produces ``--frames`` PNG
frames once the worker is ready (a warm-up frame answered) and reads the detections back.
Reports frames/s through the detect agent (first to last detection), the bare
``InferenceEngine.predict`` frames/s on the same images in batches of 8 in this process,
their ratio, the p50/p95 latency from frame produced to detection consumed, and the edge
worker's resident memory after the run (``/proc/<pid>/status`` VmRSS).

Not measured yet (issue #6): the outcome join's events/s versus a bare confluent-kafka loop,
and memory growth over 10,000 frames.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import torch
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from PIL import Image
from rich.console import Console

from detector.artifacts import save_artifact
from detector.engine import InferenceEngine, decode_png
from detector.model import MODEL_NUM_CLASSES, build_retinanet, get_preset
from infra.broker import EmbeddedBroker
from infra.settings import load_settings
from infra.stack import admin_client
from infra.topics import TopicsSpec, apply_topics, load_spec
from schemas import Codec, Detection, ScanFrame
from streams.config import TopicNames
from streams.logic.images import png_payload

console = Console()


def _png(size: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    torch.manual_seed(0)
    preset = dataclasses.replace(get_preset(args.preset), detections_per_img=10)
    model = build_retinanet(preset)
    model.head.classification_head.cls_logits.bias.data[3::MODEL_NUM_CLASSES] = 2.0
    save_artifact(work / "model", model=model, preset=preset, version="bench")
    images = [_png(args.size, seed) for seed in range(8)]
    codec = Codec()
    with EmbeddedBroker(log_path=work / "broker.log") as broker:
        bootstrap = broker.endpoint.bootstrap_servers
        prefix = f"b-{uuid.uuid4().hex[:8]}-"
        spec = load_spec()
        apply_topics(
            admin_client(load_settings(kafka={"bootstrap_servers": bootstrap}), bootstrap),
            TopicsSpec(
                {
                    prefix + n: t.model_copy(update={"name": prefix + n})
                    for n, t in spec.topics.items()
                }
            ),
        )
        names = TopicNames().prefixed(prefix)
        env = {
            **os.environ,
            "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "OMP_NUM_THREADS": "1",
        }
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("leakguard")), "worker", "--role", "edge",
             "--topic-prefix", prefix, "--model", str(work / "model"),
             "--frame-store", str(work / "fs"), "--loglevel", "warning"],
            env=env, stdout=(work / "edge.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            producer = Producer(
                {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 1}
            )
            consumer = Consumer(
                {"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False}
            )
            parts = (
                consumer.list_topics(names.detections, timeout=10)
                .topics[names.detections]
                .partitions
            )
            consumer.assign([TopicPartition(names.detections, p, OFFSET_BEGINNING) for p in parts])

            def frame(i: int) -> ScanFrame:
                lane = str(i % 4)
                return ScanFrame(
                    checkpoint="cp",
                    lane=lane,
                    frame_id=f"cp/{lane}/{i:09d}",
                    scanner_id="s",
                    view_id="top",
                    image=png_payload(images[i % 8]),
                )

            sent: dict[str, float] = {}
            received: dict[str, float] = {}

            def drain(until: int, timeout_s: float) -> None:
                deadline = time.monotonic() + timeout_s
                while len(received) < until and time.monotonic() < deadline:
                    for m in consumer.consume(500, timeout=0.2):
                        if m.error() is None:
                            received[codec.decode(m.value(), Detection).frame_id] = time.monotonic()

            warm = frame(10**8)
            producer.produce(names.frames, key=b"cp/w", value=codec.encode(warm))
            producer.flush(10)
            drain(1, 180)
            received.clear()
            for i in range(args.frames):
                f = frame(i)
                sent[f.frame_id] = time.monotonic()
                producer.produce(names.frames, key=f"cp/{f.lane}".encode(), value=codec.encode(f))
                producer.poll(0)
            producer.flush(30)
            drain(args.frames, 600)
            rss = _rss_mib(worker.pid)
        finally:
            worker.kill()
            worker.wait()
    latencies = sorted(received[k] - sent[k] for k in received if k in sent)
    agent_fps = len(received) / (max(received.values()) - min(sent.values()))
    engine = InferenceEngine.from_artifact(work / "model")
    arrays = [decode_png(images[i % 8]) for i in range(args.frames)]
    engine.predict(arrays[:8])
    started = time.perf_counter()
    for start in range(0, len(arrays), 8):
        engine.predict(arrays[start : start + 8])
    engine_fps = len(arrays) / (time.perf_counter() - started)
    console.print(f"frames: {len(received)}/{args.frames}, preset {args.preset}, {args.size}px")
    console.print(f"detect agent (Kafka in -> out): {agent_fps:.1f} frames/s")
    console.print(f"bare engine (batch 8):          {engine_fps:.1f} frames/s")
    console.print(f"ratio agent / engine:           {agent_fps / engine_fps:.2f}")
    p50_ms = statistics.median(latencies) * 1000
    p95_ms = latencies[int(0.95 * (len(latencies) - 1))] * 1000
    console.print(f"latency produced -> consumed:   p50 {p50_ms:.0f} ms, p95 {p95_ms:.0f} ms")
    console.print(f"edge worker RSS after the run:  {rss:.0f} MiB")


if __name__ == "__main__":
    main()
