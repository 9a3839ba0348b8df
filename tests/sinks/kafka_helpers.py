"""Kafka plumbing shared by the sink tests: topics made first, events produced, a worker."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from infra.topics import load_spec
from schemas import Codec, Event
from schemas.convert import to_record
from schemas.topics import Topics
from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.batching import BatchingSink
from sinks.clickhouse.rows import STORED_EVENTS, TABLES, rows_of
from sinks.clickhouse.worker import SinkWorker

CODEC = Codec()


def make_topics(bootstrap: str, prefix: str) -> dict[str, str]:
    """Create prefixed copies of the analytics topics (spec partition counts) before any
    client touches them; returns spec name -> real name."""
    spec = load_spec()
    names = {topic: f"{prefix}.{topic}" for topic in Topics().routes(STORED_EVENTS)}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(names[t], num_partitions=spec.topics[t].partitions) for t in names]
    )
    for future in futures.values():
        future.result(timeout=30)
    return names


def encoded(names: Mapping[str, str], events: Iterable[Event]) -> list[tuple[str, bytes, bytes]]:
    """``(topic, key, value)`` of every event, on the topic that carries its type."""
    topic_of = {event: names[topic] for topic, event in Topics().routes(STORED_EVENTS).items()}
    return [
        (
            topic_of[type(event).__name__],
            (getattr(event, "checkpoint", None) or "-").encode(),
            CODEC.encode(event),
        )
        for event in events
    ]


def produce(bootstrap: str, names: Mapping[str, str], events: Iterable[Event]) -> None:
    """Produce every event to the topic that carries its type."""
    produce_encoded(bootstrap, encoded(names, events))


def produce_encoded(bootstrap: str, messages: Iterable[tuple[str, bytes, bytes]]) -> None:
    """Produce ``(topic, key, value)`` messages and wait until all are delivered."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for topic, key, value in messages:
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("test events were not delivered")


def produce_raw(bootstrap: str, topic: str, values: Iterable[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value=value)
    producer.flush(30)


def expected_rows(events: Iterable[Event]) -> Counter[str]:
    """Distinct rows per table the events must produce (by each table's identity).

    Built from the events' own records (``to_record``), not from decoding the messages: an
    oracle independent of the sink's decoding path.
    """
    seen: dict[str, set[Any]] = {table: set() for table in TABLES}
    for event in events:
        for table, row in rows_of(type(event).__name__, to_record(event)):
            seen[table].add(repr(row))
    return Counter({table: len(rows) for table, rows in seen.items()})


def final_counts(backend: AnalyticsBackend) -> Counter[str]:
    return Counter(
        {table: backend.query(f"SELECT count() FROM {table} FINAL").rows[0][0] for table in TABLES}
    )


def make_worker(
    bootstrap: str, names: Mapping[str, str], group: str, sink: BatchingSink
) -> SinkWorker:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # Tansu completes a join only after about the session timeout: keep it short.
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        }
    )
    return SinkWorker(
        consumer=consumer,
        sink=sink,
        topic_events={names[t]: event for t, event in Topics().routes(STORED_EVENTS).items()},
        producer=Producer({"bootstrap.servers": bootstrap}),
        dead_letter_topic=names["deadletter"],
    )


def uncommitted(bootstrap: str, names: Mapping[str, str], group: str) -> list[str]:
    """Messages left after the group's committed offsets: ``topic[partition]@offset``.

    Read rather than compared with watermarks: the embedded broker's ListOffsets answer
    lags behind what a fetch returns.
    """
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(name, p)
            for name in names.values()
            for p in metadata.topics[name].partitions
        ]
        committed = consumer.committed(partitions, timeout=30)
        consumer.assign(
            [
                TopicPartition(
                    c.topic, c.partition, c.offset if c.offset >= 0 else OFFSET_BEGINNING
                )
                for c in committed
            ]
        )
        left = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                left.append(f"{message.topic()}[{message.partition()}]@{message.offset()}")
        return left
    finally:
        consumer.close()
