"""The sink against the real broker and both real engines: every event exactly once.

10,000 events on every analytics topic, each delivered twice, land exactly once
on the ClickHouse server and on chdb.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.batching import BatchingSink
from sinks.clickhouse.migrations import apply_migrations
from sinks.clickhouse.worker import SinkWorker
from tests.kafka_kit import publish, uncommitted
from tests.sinks.kafka_helpers import (
    analytics_topics,
    encoded,
    expected_rows,
    final_counts,
    make_worker,
    stored_topics,
)
from tests.sinks.samples import sample_events_per_type

#: Events per analytics topic: 80,000 events, 160,000 messages in all.
EVENTS_PER_TOPIC = 10_000
#: Generous on a loaded 2-core machine.
DEADLINE_S = 180.0


def _behind(worker: SinkWorker, backend: AnalyticsBackend, expected: Counter[str]) -> bool:
    """Rows still missing, or messages not yet committed."""
    return final_counts(backend) != expected or sum(worker.lag().values()) > 0


@pytest.mark.integration
@pytest.mark.slow
def test_every_event_lands_exactly_once_when_delivered_twice(
    backend: AnalyticsBackend, kafka_bootstrap: str, unique_name: str
) -> None:
    apply_migrations(backend)
    topics = analytics_topics(kafka_bootstrap, unique_name)
    events = list(sample_events_per_type(count=EVENTS_PER_TOPIC))
    messages = encoded(topics, events)
    assert Counter(topic for topic, _, _ in messages) == {
        name: EVENTS_PER_TOPIC for name in stored_topics(topics)
    }
    publish(kafka_bootstrap, messages)
    publish(kafka_bootstrap, messages)  # at-least-once: every event a second time
    publish(
        kafka_bootstrap,
        [(topics.detections, None, value) for value in (b"not avro", b"\xc3\x01garbage!")],
    )
    expected = expected_rows(events)
    expected["dead_letters"] += 2  # the sink dead-letters the garbage and then stores it
    sink = BatchingSink(backend=backend, max_batch_rows=10_000, flush_interval_s=1.0)
    worker = make_worker(kafka_bootstrap, topics, unique_name, sink)
    worker.subscribe()
    deadline = time.monotonic() + DEADLINE_S
    try:
        # Every row is in once each event's first copy is; the second copies sit behind the
        # first ones on their partition (both checkpoints' keys share one) and come after.
        while _behind(worker, backend, expected) and time.monotonic() < deadline:
            for _ in range(20):
                worker.step()
        worker.step()
        assert final_counts(backend) == expected
        assert sum(worker.lag().values()) == 0
    finally:
        worker._consumer.close()
    assert uncommitted(kafka_bootstrap, unique_name, stored_topics(topics)) == []
    reasons = backend.query(
        "SELECT reason FROM dead_letters FINAL WHERE worker_id = 'clickhouse-sink'"
    )
    assert len(reasons.rows) == 2
