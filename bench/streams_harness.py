"""What the stream benchmarks share: a broker with the spec's topics, real worker processes,
a random model artifact, readers that close their clients, memory and load samples.

Benchmarks run by hand (``python -m bench.streams``, ``bench.streams_join``,
``bench.streams_memory``); every number they print comes with the machine's load averages,
because on a shared machine the load decides the result as much as the code does.
"""

from __future__ import annotations

import dataclasses
import io
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from PIL import Image

from infra.broker import EmbeddedBroker
from infra.settings import load_settings
from infra.stack import admin_client
from infra.topics import TopicsSpec, apply_topics, load_spec
from schemas.topics import Topics

__all__ = [
    "BenchStack",
    "TopicReader",
    "bench_stack",
    "cpu_s",
    "free_port",
    "load_averages",
    "metric_value",
    "png",
    "producer",
    "random_model",
    "rss_mib",
]

#: Quiets librdkafka's informational lines (connection closes at the end of a run).
LIBRDKAFKA_WARNING = 4
#: The checkout holding ``bench`` (benchmark helper processes import it).
REPO_ROOT = Path(__file__).resolve().parents[1]
#: The benchmark reader's fetch wait (librdkafka's default is 500 ms).
READER_FETCH_WAIT_MS = 10


def png(size: int, seed: int) -> bytes:
    """A ``size`` x ``size`` noisy RGB PNG (incompressible: the worst case for decoding)."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def random_model(path: Path, preset_name: str, *, detections_per_img: int = 10) -> Path:
    """A randomly initialised model artifact of ``preset_name`` whose phone bias makes every
    image alarm (so detections carry objects); no download, no training."""
    import torch

    from detector.artifacts import save_artifact
    from detector.model import MODEL_NUM_CLASSES, build_retinanet, get_preset

    torch.manual_seed(0)
    preset = dataclasses.replace(get_preset(preset_name), detections_per_img=detections_per_img)
    model = build_retinanet(preset)
    model.head.classification_head.cls_logits.bias.data[3::MODEL_NUM_CLASSES] = 2.0
    save_artifact(path, model=model, preset=preset, version=f"bench-{preset_name}")
    return path


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free loopback port (for a worker's Prometheus endpoint)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def metric_value(port: int, name: str) -> float | None:
    """The value of metric ``name`` on the worker's ``/metrics``, if it answers."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def load_averages() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def producer(bootstrap: str, **extra: Any) -> Producer:
    """A murmur2 producer (Faust's partitioner: keys co-partition with the workers')."""
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "message.max.bytes": 12_000_000,
            "log_level": LIBRDKAFKA_WARNING,
            **extra,
        }
    )


class TopicReader:
    """Reads one topic from the beginning by ``assign()`` (no group join); call ``close``."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bench-reader",
                "enable.auto.commit": False,
                "log_level": LIBRDKAFKA_WARNING,
                # Tansu holds a fetch for its whole max wait even when data arrives: a
                # short wait keeps the reader's own share out of measured latencies.
                "fetch.wait.max.ms": READER_FETCH_WAIT_MS,
            }
        )
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

    def read(
        self,
        on_message: Callable[[Any, float], None],
        *,
        until: Callable[[], bool],
        timeout_s: float,
    ) -> None:
        """Hand each message and its arrival time to ``on_message`` until ``until()``."""
        deadline = time.monotonic() + timeout_s
        while not until() and (left_s := deadline - time.monotonic()) > 0:
            for message in self._consumer.consume(500, timeout=min(0.1, left_s)):
                if message.error() is None:
                    on_message(message, time.monotonic())

    def close(self) -> None:
        self._consumer.close()


@dataclass
class BenchStack:
    """A broker with the spec's topics under a fresh prefix, and the workers started on it."""

    bootstrap: str
    prefix: str
    names: Topics
    work: Path
    processes: list[subprocess.Popen[bytes]] = dataclasses.field(default_factory=list)

    def start_worker(self, role: str, *args: str, threads: int = 1) -> subprocess.Popen[bytes]:
        """A ``leakguard worker`` subprocess (see :meth:`start_process`)."""
        command = [str(Path(sys.executable).with_name("leakguard")), "worker", "--role", role]
        loglevel = os.environ.get("BENCH_WORKER_LOGLEVEL", "warning")  # "info" to debug
        command += ["--topic-prefix", self.prefix, "--loglevel", loglevel, *args]
        return self.start_process(role, command, threads=threads)

    def start_process(
        self, name: str, command: list[str], *, threads: int = 1
    ) -> subprocess.Popen[bytes]:
        """``command`` with ``threads`` torch threads (one by default, as in the tests:
        intra-op threads thrash a shared machine), the broker in its environment and
        ``bench`` importable, logging to the work dir; cwd there too (Faust creates its
        ``<app id>-data`` folder in it)."""
        env = {**os.environ, "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap}
        env["PYTHONPATH"] = str(REPO_ROOT)
        env["OMP_NUM_THREADS"] = str(threads)
        log = (self.work / f"{name}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.work
        )
        self.processes.append(process)
        return process

    def stop_worker(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM and wait: a clean stop commits the worker's offsets."""
        process.terminate()
        process.wait(timeout=60)
        self.processes.remove(process)


@contextmanager
def bench_stack(work: Path) -> Iterator[BenchStack]:
    """An embedded broker with the spec's topics under a new prefix; workers killed at the end."""
    with EmbeddedBroker(log_path=work / "broker.log") as broker:
        bootstrap = broker.endpoint.bootstrap_servers
        prefix = f"b-{uuid.uuid4().hex[:8]}-"
        spec = load_spec()
        topics = {
            prefix + n: t.model_copy(update={"name": prefix + n}) for n, t in spec.topics.items()
        }
        apply_topics(
            admin_client(load_settings(kafka={"bootstrap_servers": bootstrap}), bootstrap),
            TopicsSpec(topics),
        )
        stack = BenchStack(bootstrap, prefix, Topics().prefixed(prefix), work)
        try:
            yield stack
        finally:
            for process in stack.processes:
                process.kill()
                process.wait()
