"""Schema-valid events the store cannot hold, on the real broker into both real engines:
each is dead-lettered with its own bytes, the valid events around it land, the sink goes on.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from schemas import Codec, DeadLetter, Detection
from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.batching import BatchingSink
from sinks.clickhouse.migrations import apply_migrations
from sinks.clickhouse.worker import SinkWorker
from tests.kafka_kit import TopicReader, publish, uncommitted
from tests.sinks.kafka_helpers import (
    analytics_topics,
    encoded,
    expected_rows,
    final_counts,
    make_worker,
    stored_topics,
)
from tests.sinks.samples import sample_events

CODEC = Codec()
FRAMES = 300
DEADLINE_S = 120.0


def _hostile(template: Detection) -> dict[str, Detection]:
    """Detections Avro takes and no column can hold, by what is wrong with them."""
    forged = {
        "image_width: -5 is outside UInt32": {"image_width": -5},
        "event_time: 7258118400 is outside DateTime": {
            "event_time": datetime(2200, 1, 1, tzinfo=UTC)
        },
        "event_time: -315619200 is outside DateTime": {
            "event_time": datetime(1960, 1, 1, tzinfo=UTC)
        },
        "inference_latency_ms: nan does not fit Float64": {"inference_latency_ms": math.nan},
    }
    return {
        reason: dataclasses.replace(template, event_id=uuid.uuid4(), **fields)
        for reason, fields in forged.items()
    }


def _settled(worker: SinkWorker, backend: AnalyticsBackend, expected: Counter[str]) -> bool:
    return final_counts(backend) == expected and sum(worker.lag().values()) == 0


@pytest.mark.integration
@pytest.mark.slow
def test_a_value_no_column_can_hold_is_dead_lettered_and_its_batch_lands(
    backend: AnalyticsBackend, kafka_bootstrap: str, unique_name: str
) -> None:
    apply_migrations(backend)
    topics = analytics_topics(kafka_bootstrap, unique_name)
    events = list(sample_events(frames=FRAMES))
    template = next(event for event in events if isinstance(event, Detection) and event.objects)
    hostile = _hostile(template)
    half = len(events) // 2
    # The hostile events sit in the middle of the valid ones, on the same partitions.
    publish(kafka_bootstrap, encoded(topics, [*events[:half], *hostile.values(), *events[half:]]))
    expected = expected_rows(events)
    expected["dead_letters"] += len(hostile)  # the sink's own dead letters, stored in turn
    sink = BatchingSink(backend=backend, max_batch_rows=10_000, flush_interval_s=0.5)
    worker = make_worker(kafka_bootstrap, topics, unique_name, sink)
    worker.subscribe()
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not _settled(worker, backend, expected) and time.monotonic() < deadline:
            worker.step()
        assert final_counts(backend) == expected
    finally:
        worker._consumer.close()
    assert uncommitted(kafka_bootstrap, unique_name, stored_topics(topics)) == []

    with TopicReader(kafka_bootstrap, topics.dead_letters) as reader:
        letters = [
            letter
            for letter in reader.events(
                DeadLetter,
                at_least=len(hostile) + sum(isinstance(e, DeadLetter) for e in events),
                timeout_s=30,
            )
            if letter.worker_id == "clickhouse-sink"
        ]
    by_original = {letter.original: letter for letter in letters}
    assert len(letters) == len(hostile)  # once each, however many rows an event had
    for reason, event in hostile.items():
        letter = by_original[CODEC.encode(event)]  # the event's own bytes
        assert letter.error_class == "sinks.exceptions.ValuesRefusedError"
        assert letter.source_topic == topics.detections
        assert letter.reason.startswith(f"detection_frames: {reason}"), letter.reason
    ids = ", ".join(f"'{event.event_id}'" for event in hostile.values())
    for table in ("detection_frames", "detections"):
        stored = backend.query(f"SELECT count() FROM {table} WHERE event_id IN ({ids})")
        assert stored.rows == [(0,)], table  # no part of a refused event is stored
