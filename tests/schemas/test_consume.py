"""The shared consume loop on the real broker: decode, dead-letter with the original bytes,
commit only once the dead letters are out."""

from __future__ import annotations

import time

import pytest

from schemas import Codec
from schemas.consume import EventBatches
from schemas.events import Alert, DeadLetter
from tests.kafka_kit import (
    create_topics,
    decoded,
    group_consumer,
    make_producer,
    publish,
    read_topic,
    uncommitted,
)
from tests.sinks.samples import sample_events

pytestmark = pytest.mark.integration

CODEC = Codec()


def _create(bootstrap: str, *topics: str) -> None:
    """One partition each: the dead letters' offsets are then the order of production."""
    create_topics(bootstrap, dict.fromkeys(topics, 1))


def _dead_letters(bootstrap: str, topic: str, count: int) -> list[DeadLetter]:
    messages = read_topic(bootstrap, topic, until=lambda got: len(got) >= count, timeout_s=60)
    return decoded(messages, DeadLetter)


def test_a_batch_is_decoded_bad_messages_are_dead_lettered_and_then_committed(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topic, dead = f"{unique_name}.alerts", f"{unique_name}.deadletter"
    _create(kafka_bootstrap, topic, dead)
    alerts = [e for e in sample_events(frames=40) if isinstance(e, Alert)][:3]
    publish(
        kafka_bootstrap,
        [
            *((topic, b"cp", CODEC.encode(alert)) for alert in alerts),
            (topic, b"bad", b"not avro"),
            (topic, b"tombstone", None),
        ],
    )
    batches = EventBatches(
        consumer=group_consumer(kafka_bootstrap, unique_name),
        producer=make_producer(kafka_bootstrap),
        routes={topic: "Alert"},
        dead_letter_topic=dead,
        worker_id="test-worker",
    )
    batches.subscribe()
    messages = []
    deadline = time.monotonic() + 60
    try:
        while len(messages) < 5 and time.monotonic() < deadline:
            messages += batches.poll()
        decoded = [batches.event(m) for m in messages]
        assert decoded[:3] == alerts
        assert decoded[3:] == [None, None]
        assert batches.dead_letters == 2
        assert len(uncommitted(kafka_bootstrap, unique_name, [topic])) == 5
        batches.commit()
        assert uncommitted(kafka_bootstrap, unique_name, [topic]) == []
    finally:
        batches.consumer.close()
    letters = _dead_letters(kafka_bootstrap, dead, 2)
    assert [(d.source_topic, d.offset, d.original, d.worker_id) for d in letters] == [
        (topic, 3, b"not avro", "test-worker"),
        (topic, 4, b"", "test-worker"),
    ]
    assert "tombstone" in letters[1].reason


def test_a_message_from_a_topic_without_a_route_is_dead_lettered_not_guessed(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topic, dead = f"{unique_name}.outcomes", f"{unique_name}.deadletter"
    _create(kafka_bootstrap, topic, dead)
    alert = next(e for e in sample_events(frames=40) if isinstance(e, Alert))
    publish(kafka_bootstrap, [(topic, None, CODEC.encode(alert))])
    consumer = group_consumer(kafka_bootstrap, unique_name)
    consumer.subscribe([topic])
    batches = EventBatches(
        consumer=consumer,
        producer=make_producer(kafka_bootstrap),
        routes={f"{unique_name}.alerts": "Alert"},
        dead_letter_topic=dead,
        worker_id="test-worker",
    )
    messages = []
    deadline = time.monotonic() + 60
    try:
        while not messages and time.monotonic() < deadline:
            messages = batches.poll()
        assert batches.record(messages[0]) is None
        batches.deliver()
    finally:
        consumer.close()
    (letter,) = _dead_letters(kafka_bootstrap, dead, 1)
    assert "no event is routed" in letter.reason
