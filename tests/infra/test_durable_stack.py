"""A stack that survives its own restart: ``stack up --durable`` keeps every event across
``stack down``, and every start re-announces the registry's rollout state.

Real services only: the S3-compatible server (s3rver, from ``node_modules``), Tansu on it,
and the registry on disk with a real signing key.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from infra.exceptions import BrokerError
from infra.settings import LeakguardSettings, load_settings
from infra.stack import StackUpResult, read_state, stack_down, stack_status, stack_up
from retrain.keys import load_or_create_private_key, public_key_pem
from retrain.registry import Registry
from schemas import Codec
from schemas.events import ModelUpdate
from schemas.topics import Topics
from streams.rollout.decisions import DecisionChecker
from streams.rollout.fetch import trusted_keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOPICS = Topics()
#: One partition of model.updates gets more than 1,000 batches (one event each): past the
#: first page of an S3 listing, which Tansu reads back on restart.
MODEL_UPDATES_EVENTS = 1_050
#: Keyed events spread over the partitions of two wider topics.
KEYED_EVENTS = 200
#: Every wait below ends as soon as its condition holds; this only bounds a broken run. Each
#: event is its own object in the S3 store: on a 2-core machine busy with a training run,
#: reading them all back once took longer than a minute.
READ_TIMEOUT_S = 180.0

Event = tuple[str, bytes, bytes]  # (topic, key, value)


@pytest.fixture
def settings() -> Iterator[LeakguardSettings]:
    """The test's settings (private data dir); the stack is stopped however the test ends."""
    current = load_settings()
    try:
        yield current
    finally:
        stack_down(current)


def _events() -> list[Event]:
    """Events of varied sizes (16 B to 16 KiB) and keys for three topics."""
    rng = random.Random(7)
    events: list[Event] = []
    for number in range(MODEL_UPDATES_EVENTS):
        events.append((TOPICS.model_updates, b"v%04d" % (number % 5), rng.randbytes(64)))
    for topic in (TOPICS.detections, TOPICS.alerts):
        for number in range(KEYED_EVENTS):
            key = b"checkpoint-%d/frame-%d" % (number % 7, number)
            events.append((topic, key, rng.randbytes(rng.randrange(16, 16 * 1024))))
    return events


def _produce(bootstrap_servers: str, events: list[Event]) -> None:
    # One event a batch: every event becomes its own object in the store.
    producer = Producer(
        {"bootstrap.servers": bootstrap_servers, "linger.ms": 0, "batch.num.messages": 1}
    )
    for topic, key, value in events:
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
    assert producer.flush(READ_TIMEOUT_S) == 0


def _read_all(bootstrap_servers: str, topics: set[str]) -> list[Event]:
    """Every event of ``topics``, from the start of each partition to its end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"durable-check-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        metadata = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(topic, partition, 0)
            for topic in sorted(topics)
            for partition in metadata.topics[topic].partitions
        ]
        consumer.assign(partitions)
        at_end: set[tuple[str, int]] = set()
        events: list[Event] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(at_end) < len(partitions) and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=0.5):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add((message.topic(), message.partition()))
                    continue
                assert error is None, error
                events.append((message.topic(), message.key(), message.value()))
        assert len(at_end) == len(partitions), "not every partition was read to its end"
        return events
    finally:
        consumer.close()


def test_a_durable_stack_restart_loses_no_event(settings: LeakguardSettings) -> None:
    first = stack_up(settings, durable=True)
    assert first.state.durable
    assert first.announced is not None
    assert "signing key" in (first.announced.skipped or "")
    sent = _events()
    _produce(first.state.bootstrap_servers, sent)

    stack_down(settings)
    assert read_state(settings) is None
    second = stack_up(settings, durable=True)

    assert second.topics.created == [], "the topics came back from the store"
    assert second.state.bootstrap_servers != first.state.bootstrap_servers
    received = _read_all(second.state.bootstrap_servers, {topic for topic, _, _ in sent})
    assert len(received) == len(sent)
    assert Counter(received) == Counter(sent)
    status = stack_status(settings)
    assert status.broker_answers
    assert status.storage_running


def test_a_running_memory_stack_is_not_made_durable_in_place(
    settings: LeakguardSettings,
) -> None:
    stack_up(settings)
    with pytest.raises(BrokerError, match="stack down"):
        stack_up(settings, durable=True)


def _model_updates(bootstrap_servers: str) -> list[ModelUpdate]:
    codec = Codec()
    return [
        codec.decode(value, ModelUpdate)
        for _, _, value in _read_all(bootstrap_servers, {TOPICS.model_updates})
    ]


def test_every_start_re_announces_the_active_model_to_edges(
    settings: LeakguardSettings, tiny_artifact: Path, tmp_path: Path
) -> None:
    key_path = settings.data_dir / "keys" / "registry-ed25519.pem"
    key = load_or_create_private_key(key_path)
    registry = Registry(settings.data_dir / "registry", signing_key=key)
    registry.register(tiny_artifact, parent=None)
    registry.promote("v0001", mode="active")  # announced to no broker: none was running
    public_key = tmp_path / "registry.pub.pem"
    public_key.write_bytes(public_key_pem(key.public_key()))
    edge = DecisionChecker(trusted_keys([public_key]))

    for start in range(2):  # the in-memory broker forgets every announcement at stack down
        result: StackUpResult = stack_up(settings)
        assert result.announced is not None
        assert [(u.model_version, u.rollout_mode) for u in result.announced.announced] == [
            ("v0001", "active")
        ]
        (update,) = _model_updates(result.state.bootstrap_servers)
        assert (update.model_version, update.rollout_mode) == ("v0001", "active")
        edge.accept(update)  # signed by the registry and newer than the last one applied
        assert update.sequence == start + 2
        stack_down(settings)
