"""Benchmark: outcome-join events/s of one cloud worker versus a bare confluent-kafka
consume-and-produce loop on the same messages, same broker, same run.

Run by hand: ``.venv/bin/python -m bench.streams_join [--frames 5000 --rounds 5]``.

Each round writes ``--frames`` detections and their verdicts (two events a frame; one
alarmed phone each, the guard confirms it: one ``Outcome`` and one ``Alert`` a frame, and
the frame's image, staged beforehand as the edge does, is kept) to ``detections`` /
``guard.verdicts``, then

1. starts a ``leakguard worker --role cloud`` on that backlog and samples its
   ``leakguard_join_events_in`` counter (Prometheus endpoint) every 50 ms: events/s from the
   first event counted to the last;
2. runs a bare confluent-kafka loop in this process over the same messages: consume from
   both topics, produce each message's bytes to a scratch topic, events/s from the first
   message to the last (what the Kafka I/O alone costs: the ceiling for any Python
   consume-and-produce loop);
3. prints both, the ratio and the load averages.

The worker is stopped (SIGTERM) before the bare loop, so the two never compete.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer
from rich.console import Console

from bench.streams_harness import (
    LIBRDKAFKA_WARNING,
    BenchStack,
    bench_stack,
    free_port,
    load_averages,
    metric_value,
    png,
)
from bench.streams_harness import producer as make_producer
from schemas import Codec
from schemas.events import Box, DetectedObject, Detection, GuardVerdict
from streams.frame_store import FrameStore

console = Console()
#: A counter that does not move for this long is a stalled worker, not a slow one.
STALL_S = 60.0
#: Counter of events the join consumed (streams/metrics.py).
EVENTS_METRIC = "leakguard_join_events_in_total"


def produce_join_events(stack: BenchStack, frames: int, run: str) -> None:
    """``frames`` detections and their confirming verdicts, interleaved, keyed by frame id;
    each frame's image staged as the edge would have, so the join keeps it (TP frame)."""
    codec = Codec()
    store = FrameStore(str(stack.work / "fs"))
    image = png(16, 0)
    out = make_producer(stack.bootstrap, **{"linger.ms": 20})
    phone = DetectedObject(
        object_id="o0", class_name="phone", score=0.9, box=Box(x1=1, y1=1, x2=9, y2=9), alarmed=True
    )
    for index in range(frames):
        detection = Detection(
            checkpoint="cp", lane=str(index % 4), frame_id=f"{run}/{index:09d}",
            model_version="m1", inference_latency_ms=5.0, image_width=640, image_height=640,
            objects=(phone,), alarmed=True,
        )  # fmt: skip
        verdict = GuardVerdict(
            checkpoint="cp", lane=detection.lane, frame_id=detection.frame_id,
            model_version="m1", detection_event_id=detection.event_id, guard_id="g1",
            decision="confirmed",
        )  # fmt: skip
        store.stage(image, checkpoint="cp", lane=detection.lane, frame_id=detection.frame_id)
        key = detection.frame_id.encode()
        out.produce(stack.names.detections, key=key, value=codec.encode(detection))
        out.produce(stack.names.verdicts, key=key, value=codec.encode(verdict))
        out.poll(0)
    out.flush(60)


def join_rate(stack: BenchStack, events: int, *, port: int) -> float:
    """Events/s of a cloud worker (restarted: it resumes at its committed offsets) draining
    the ``events`` new events."""
    worker = stack.start_worker(
        "cloud", "--frame-store", str(stack.work / "fs"), "--metrics-port", str(port)
    )
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline:
            count = metric_value(port, EVENTS_METRIC)
            if count is not None and count > 0 and (not samples or count > samples[-1][1]):
                samples.append((time.monotonic(), count))
                if count >= events:
                    break
            if worker.poll() is not None:
                raise SystemExit(f"cloud worker died; see {stack.work}")
            if samples and time.monotonic() - samples[-1][0] > STALL_S and count == samples[-1][1]:
                raise SystemExit(f"join stalled at {count:.0f} of {events} events for {STALL_S} s")
            time.sleep(0.05)
    finally:
        stack.stop_worker(worker)
    (t0, c0), (t1, c1) = samples[0], samples[-1]
    if c1 < events:
        raise SystemExit(f"cloud worker consumed {c1:.0f} of {events} events; see {stack.work}")
    return (c1 - c0) / (t1 - t0)


def bare_rate(stack: BenchStack, events: int, *, group: str) -> float:
    """Events/s of a confluent-kafka loop consuming both topics and producing every message
    (``group`` resumes where the previous round stopped, so it reads the new events)."""
    consumer = Consumer(
        {
            "bootstrap.servers": stack.bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "log_level": LIBRDKAFKA_WARNING,
        }
    )
    out = make_producer(stack.bootstrap)
    consumer.subscribe([stack.names.detections, stack.names.verdicts])
    scratch = stack.names.outcomes
    seen, first = 0, 0.0
    deadline = time.monotonic() + 600
    try:
        while seen < events and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=0.2):
                if message.error() is not None:
                    continue
                if seen == 0:
                    first = time.monotonic()
                out.produce(scratch, key=message.key(), value=message.value())
                seen += 1
            out.poll(0)
        out.flush(30)
        last = time.monotonic()
    finally:
        consumer.close()
    return (seen - 1) / (last - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=5000, help="Frames per round.")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-join-"))
    port = free_port()
    group = f"bench-bare-{uuid.uuid4().hex[:6]}"
    rows: list[tuple[float, float]] = []
    with bench_stack(work) as stack:
        for round_ in range(1, args.rounds + 1):
            produce_join_events(stack, args.frames, f"r{round_}")
            events = 2 * args.frames
            before = load_averages()
            join = join_rate(stack, events, port=port)
            bare = bare_rate(stack, events, group=group)
            rows.append((join, bare))
            console.print(
                f"round {round_}: join {join:,.0f} events/s, bare loop {bare:,.0f} events/s, "
                f"ratio {join / bare:.4f}; before {before}, after {load_averages()}"
            )
    console.print(
        f"median join {statistics.median(r[0] for r in rows):,.0f} events/s per worker, "
        f"median bare loop {statistics.median(r[1] for r in rows):,.0f} events/s, "
        f"median ratio {statistics.median(r[0] / r[1] for r in rows):.4f}"
    )


if __name__ == "__main__":
    main()
