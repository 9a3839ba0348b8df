"""Fixtures for the streams tests: per-test topics on the session broker, real worker
subprocesses (always killed at the end) and Kafka helpers. The tiny model artifact is shared
with the demo's tests, in tests/conftest.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from infra.settings import load_settings
from infra.stack import admin_client
from infra.topics import TopicsSpec, apply_topics, load_spec
from schemas.topics import Topics

#: Where the ``leakguard`` console script of this virtualenv lives.
LEAKGUARD = str(Path(sys.executable).with_name("leakguard"))


@dataclass(frozen=True)
class StreamTopics:
    """One test's topics on the shared broker, and the producers the test wrote with."""

    bootstrap: str
    prefix: str
    names: Topics
    producers: list[Producer] = field(default_factory=list)

    def producer(self, **extra: Any) -> Producer:
        """A producer that partitions like Faust and Java clients (murmur2), so keys
        co-partition; flushed and closed when the test ends."""
        out = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "partitioner": "murmur2_random",
                "linger.ms": 5,
                "message.max.bytes": 12_000_000,
                **extra,
            }
        )
        self.producers.append(out)
        return out


@pytest.fixture
def stream_topics(kafka_bootstrap: str, unique_name: str) -> Iterator[StreamTopics]:
    """Every topic of the spec, created under a prefix no other test uses. The test's
    producers are closed at its end, so none is left to log "Connect failed" when the
    session broker stops."""
    prefix = f"{unique_name}-"
    spec = load_spec()
    prefixed = TopicsSpec(
        {
            prefix + name: topic.model_copy(update={"name": prefix + name})
            for name, topic in spec.topics.items()
        }
    )
    settings = load_settings(kafka={"bootstrap_servers": kafka_bootstrap})
    apply_topics(admin_client(settings, kafka_bootstrap), prefixed)
    topics = StreamTopics(kafka_bootstrap, prefix, Topics().prefixed(prefix))
    try:
        yield topics
    finally:
        for out in topics.producers:
            out.flush(10)
            out.close()


class Workers:
    """Starts ``leakguard worker`` subprocesses and kills every one of them at the end."""

    def __init__(self, topics: StreamTopics, log_dir: Path) -> None:
        self._topics = topics
        self._log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self._started = 0

    def start(
        self, role: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """``leakguard worker --role role *args``; ``env`` adds to its environment."""
        env = {
            **os.environ,
            "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": self._topics.bootstrap,
            # One torch thread: intra-op threads thrash on a shared 2-core machine.
            "OMP_NUM_THREADS": "1",
            **(env or {}),
        }
        log = (self._log_dir / f"{role}-{self._started}.log").open("wb")
        self._started += 1
        process = subprocess.Popen(
            [
                LEAKGUARD,
                "worker",
                "--role",
                role,
                "--topic-prefix",
                self._topics.prefix,
                "--loglevel",
                "warning",
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=self._log_dir.parent,  # Faust's <app id>-data folder: not in the repository
        )
        self.processes.append(process)
        return process

    def check_alive(self) -> None:
        """Fail at once, with the logs, if a worker died (instead of waiting for output)."""
        dead = [p for p in self.processes if p.poll() is not None]
        if dead:
            pytest.fail(f"worker exited with {dead[0].returncode}:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self._log_dir.glob("*.log"))

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture
def workers(stream_topics: StreamTopics, tmp_path: Path) -> Iterator[Workers]:
    """Worker subprocesses for this test; all killed (whole process group) afterwards."""
    log_dir = tmp_path / "worker-logs"
    log_dir.mkdir()
    started = Workers(stream_topics, log_dir)
    try:
        yield started
    finally:
        started.kill_all()


def consume(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Any]], bool],
    timeout_s: float,
    workers: Workers | None = None,
) -> list[Any]:
    """Every message of ``topic`` from the start, until ``until(messages)`` or the timeout."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "unused-reader",  # required by librdkafka; assign() joins no group
            "enable.auto.commit": False,
        }
    )
    # assign(), not subscribe(): no group join, so no rebalance wait on the broker.
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until(messages):
            if workers is not None:
                workers.check_alive()
            for message in consumer.consume(num_messages=500, timeout=0.5):
                if message.error() is None:
                    messages.append(message)
    finally:
        consumer.close()
    return messages
