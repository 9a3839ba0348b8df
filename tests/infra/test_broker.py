"""The embedded broker against real clients: confluent-kafka produces, aiokafka consumes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from infra.broker import EmbeddedBroker
from infra.processes import process_alive

pytestmark = pytest.mark.integration

MESSAGE_COUNT = 10_000
PARTITIONS = 4


def _create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, num_partitions=partitions)]).values():
        future.result()


async def _consume_in_one_group(bootstrap: str, topic: str, group: str) -> list[list[bytes]]:
    """Two consumers of one group split the partitions and together read every message."""
    consumers = [
        AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        for _ in range(2)
    ]
    for consumer in consumers:
        await consumer.start()
    seen: list[list[bytes]] = [[] for _ in consumers]
    deadline = time.monotonic() + 120
    try:
        while sum(map(len, seen)) < MESSAGE_COUNT and time.monotonic() < deadline:
            for index, consumer in enumerate(consumers):
                batches = await consumer.getmany(timeout_ms=200)
                for messages in batches.values():
                    seen[index].extend(message.value for message in messages)
    finally:
        for consumer in consumers:
            await consumer.stop()
    return seen


def test_ten_thousand_messages_from_confluent_kafka_to_aiokafka_group(
    kafka_bootstrap: str, unique_name: str
) -> None:
    _create_topic(kafka_bootstrap, unique_name, PARTITIONS)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 5})
    for number in range(MESSAGE_COUNT):
        producer.produce(unique_name, key=str(number % 97), value=str(number).encode())
    assert producer.flush(30) == 0

    seen = asyncio.run(_consume_in_one_group(kafka_bootstrap, unique_name, unique_name))

    everything = [value for part in seen for value in part]
    assert len(everything) == MESSAGE_COUNT
    assert {int(value) for value in everything} == set(range(MESSAGE_COUNT))


def test_broker_answers_metadata_and_stops_without_leaving_a_process(tmp_path: Path) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log")
    endpoint = broker.start()
    pid = broker.pid
    assert process_alive(pid)
    metadata = AdminClient({"bootstrap.servers": endpoint.bootstrap_servers}).list_topics(timeout=5)
    assert len(metadata.brokers) == 1
    broker.stop()
    assert not process_alive(pid)
    broker.stop()  # idempotent


# The parent takes Ctrl-C as Python does in a terminal, also when this test runs in the
# background of a non-interactive shell, whose children inherit SIGINT ignored.
_PARENT_SCRIPT = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from infra.broker import EmbeddedBroker
broker = EmbeddedBroker()
broker.start()
print(broker.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_broker_dies_with_a_killed_or_interrupted_parent(how: signal.Signals) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT_SCRIPT], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    broker_pid = int(parent.stdout.readline())
    assert process_alive(broker_pid)
    parent.send_signal(how)
    parent.wait(timeout=30)
    deadline = time.monotonic() + 10
    while process_alive(broker_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(broker_pid)
