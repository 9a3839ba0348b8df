"""What the sink tests share around the broker: the analytics topics, events encoded onto
them, the rows they must give, and a sink worker. The Kafka plumbing itself is
tests/kafka_kit.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from schemas import Codec, Event
from schemas.convert import to_record
from schemas.topics import Topics
from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.batching import BatchingSink
from sinks.clickhouse.rows import STORED_EVENTS, TABLES, rows_of
from sinks.clickhouse.worker import SinkWorker
from tests.kafka_kit import KafkaRecord, group_consumer, make_producer, make_topics

CODEC = Codec()


def analytics_topics(bootstrap: str, unique: str) -> Topics:
    """The topics of the events the sink stores, created as ``<unique>.<name>`` with the
    spec's partition counts; returns the catalogue under that prefix."""
    return make_topics(bootstrap, f"{unique}.", only=Topics().routes(STORED_EVENTS))


def stored_topics(topics: Topics) -> list[str]:
    """The names of the topics in ``topics`` that carry an event the sink stores."""
    return list(topics.routes(STORED_EVENTS))


def encoded(topics: Topics, events: Iterable[Event]) -> list[KafkaRecord]:
    """``(topic, key, value)`` of every event, on the topic that carries its type, keyed by
    its checkpoint (``-`` for events without one)."""
    return [
        (
            topics.carrying(type(event).__name__),
            (getattr(event, "checkpoint", None) or "-").encode(),
            CODEC.encode(event),
        )
        for event in events
    ]


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


def make_worker(bootstrap: str, topics: Topics, group: str, sink: BatchingSink) -> SinkWorker:
    """A sink worker in ``group`` on the stored topics of ``topics``."""
    return SinkWorker(
        consumer=group_consumer(bootstrap, group),
        sink=sink,
        topic_events=topics.routes(STORED_EVENTS),
        producer=make_producer(bootstrap),
        dead_letter_topic=topics.dead_letters,
    )
