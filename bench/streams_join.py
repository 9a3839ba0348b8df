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
2. starts :mod:`bench.faust_passthrough` workers on the same backlog, one with one-record
   produce batches, one with Faust's default producer settings and one with the cloud
   app's (Faust's default batches, the app's linger): Faust consuming both topics and
   producing every message's bytes to a scratch topic, no join (what Faust itself costs
   per event here);
3. runs a bare confluent-kafka loop in this process over the same messages: consume from
   both topics, produce each message's bytes to a scratch topic, events/s from the first
   message to the last (what the Kafka I/O alone costs: the ceiling for any Python
   consume-and-produce loop);
4. prints all five, the join's ratios to the bare loop and to the Faust passthrough, and
   the load averages.

Each worker is stopped (SIGTERM) before the next starts, so they never compete.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Final

from confluent_kafka import Consumer
from rich.console import Console

from bench.streams_harness import (
    LIBRDKAFKA_WARNING,
    READER_FETCH_WAIT_MS,
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
from streams.apps.cloud import PRODUCER_LINGER_MS
from streams.frame_store import FrameStore

console = Console()
#: A counter that does not move for this long is a stalled worker, not a slow one.
STALL_S = 60.0
#: Counter of events the join consumed (streams/metrics.py).
EVENTS_METRIC = "leakguard_join_events_in_total"


def produce_join_events(stack: BenchStack, frames: int, run: str) -> None:
    """``frames`` detections and their confirming verdicts, interleaved, keyed by frame id;
    each frame's image staged and linked as the edge does, so the join keeps it (TP frame)."""
    codec = Codec()
    store = FrameStore(str(stack.work / "fs"))
    image = png(16, 0)
    out = make_producer(stack.bootstrap, **{"linger.ms": 20})
    phone = DetectedObject(
        object_id="o0", class_name="phone", score=0.9, box=Box(x1=1, y1=1, x2=9, y2=9), alarmed=True
    )
    for index in range(frames):
        lane, frame_id = str(index % 4), f"{run}/{index:09d}"
        link = store.stage(image, checkpoint="cp", lane=lane, frame_id=frame_id)
        detection = Detection(
            checkpoint="cp", lane=lane, frame_id=frame_id, model_version="m1",
            inference_latency_ms=5.0, image_width=640, image_height=640, objects=(phone,),
            alarmed=True, image=link,
        )  # fmt: skip
        verdict = GuardVerdict(
            checkpoint="cp", lane=detection.lane, frame_id=detection.frame_id,
            model_version="m1", detection_event_id=detection.event_id, guard_id="g1",
            decision="confirmed",
        )  # fmt: skip
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
    return drain_rate(stack, worker, events, port=port)


def passthrough_rate(
    stack: BenchStack, events: int, *, port: int, batch_size: int, linger_ms: int
) -> float:
    """Events/s of a :mod:`bench.faust_passthrough` worker (its own group per producer
    setting, resuming at its committed offsets) draining the ``events`` new events."""
    name = f"pass{batch_size}-{linger_ms}"
    command = [sys.executable, "-m", "bench.faust_passthrough", "--bootstrap", stack.bootstrap]
    command += ["--topic-prefix", stack.prefix, "--app-prefix", f"{name}-"]
    command += ["--metrics-port", str(port), "--producer-batch-size", str(batch_size)]
    command += ["--producer-linger-ms", str(linger_ms)]
    return drain_rate(stack, stack.start_process(name, command), events, port=port)


def drain_rate(
    stack: BenchStack, worker: subprocess.Popen[bytes], events: int, *, port: int
) -> float:
    """Events/s of ``worker`` from the first event its ``leakguard_join_events_in`` counter
    shows to the ``events``-th; the worker is stopped at the end."""
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
                raise SystemExit(f"worker died; see the logs in {stack.work}")
            if samples and time.monotonic() - samples[-1][0] > STALL_S and count == samples[-1][1]:
                raise SystemExit(
                    f"worker stalled at {count:.0f} of {events} events for {STALL_S} s"
                )
            time.sleep(0.05)
    finally:
        stack.stop_worker(worker)
    (t0, c0), (t1, c1) = samples[0], samples[-1]
    if c1 < events:
        raise SystemExit(f"worker consumed {c1:.0f} of {events} events; see {stack.work}")
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
            # Tansu holds every fetch for its max wait: with librdkafka's 500 ms a backlog
            # read in two fetches measured 8,000 events/s instead of 400,000.
            "fetch.wait.max.ms": READER_FETCH_WAIT_MS,
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


#: Producer settings of the Faust passthrough by name: (batch size, linger ms). One record
#: per batch; Faust's defaults; and, when the cloud app lingers, Faust's default batches
#: with that linger (the join's own producer settings; each passthrough needs its own).
PASSTHROUGHS: Final[dict[str, tuple[int, int]]] = {
    "faust1": (1, 0),
    "faust": (16384, 0),
    **({"faust_linger": (16384, PRODUCER_LINGER_MS)} if PRODUCER_LINGER_MS else {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=5000, help="Frames per round.")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-join-"))
    port = free_port()
    group = f"bench-bare-{uuid.uuid4().hex[:6]}"
    rows: list[dict[str, float]] = []
    with bench_stack(work) as stack:
        for round_ in range(1, args.rounds + 1):
            produce_join_events(stack, args.frames, f"r{round_}")
            events = 2 * args.frames
            before = load_averages()
            row = {"join": join_rate(stack, events, port=port)}
            for name, (batch, linger) in PASSTHROUGHS.items():
                row[name] = passthrough_rate(
                    stack, events, port=port, batch_size=batch, linger_ms=linger
                )
            row["bare"] = bare_rate(stack, events, group=group)
            rows.append(row)
            console.print(
                f"round {round_}: " + ", ".join(f"{k} {v:,.0f}" for k, v in row.items())
                + f" events/s; join/bare {row['join'] / row['bare']:.4f}, "
                + "".join(f"join/{name} {row['join'] / row[name]:.3f}, " for name in PASSTHROUGHS)
                + f"before {before}, after {load_averages()}"
            )  # fmt: skip
    medians = {name: statistics.median(row[name] for row in rows) for name in rows[0]}
    console.print(
        "medians: " + ", ".join(f"{k} {v:,.0f}" for k, v in medians.items()) + " events/s; "
        f"ratio join/bare {statistics.median(r['join'] / r['bare'] for r in rows):.4f}, "
        + ", ".join(
            f"join/{name} {statistics.median(r['join'] / r[name] for r in rows):.3f}"
            for name in PASSTHROUGHS
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
