"""The sink against the real broker and both real engines: every event exactly once."""

from __future__ import annotations

import time

import pytest

from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.batching import BatchingSink
from sinks.clickhouse.migrations import apply_migrations
from sinks.clickhouse.samples import sample_events
from tests.sinks.kafka_helpers import (
    expected_rows,
    final_counts,
    make_topics,
    make_worker,
    produce,
    produce_raw,
    uncommitted,
)

#: 2,300 frames make about 11,000 events over all eight analytics topics.
FRAMES = 2_300
#: Generous on a loaded 2-core machine: about 22,000 messages to decode and insert.
DEADLINE_S = 150.0


@pytest.mark.integration
@pytest.mark.slow
def test_every_event_lands_exactly_once_when_delivered_twice(
    backend: AnalyticsBackend, kafka_bootstrap: str, unique_name: str
) -> None:
    apply_migrations(backend)
    names = make_topics(kafka_bootstrap, unique_name)
    events = list(sample_events(frames=FRAMES))
    assert len(events) >= 10_000
    produce(kafka_bootstrap, names, events)
    produce(kafka_bootstrap, names, events)  # at-least-once: every event a second time
    produce_raw(kafka_bootstrap, names["detections"], [b"not avro", b"\xc3\x01garbage!"])
    expected = expected_rows(events)
    expected["dead_letters"] += 2  # the sink dead-letters the garbage and then stores it
    sink = BatchingSink(backend=backend, max_batch_rows=5_000, flush_interval_s=0.5)
    worker = make_worker(kafka_bootstrap, names, unique_name, sink)
    worker.subscribe()
    deadline = time.monotonic() + DEADLINE_S
    try:
        while final_counts(backend) != expected and time.monotonic() < deadline:
            for _ in range(20):
                worker.step()
        worker.step()
        assert final_counts(backend) == expected
        assert sum(worker.lag().values()) == 0
    finally:
        worker._consumer.close()
    assert uncommitted(kafka_bootstrap, names, unique_name) == []
    reasons = backend.query(
        "SELECT reason FROM dead_letters FINAL WHERE worker_id = 'clickhouse-sink'"
    )
    assert len(reasons.rows) == 2
