"""The join table's recovery reads each changelog partition to its last record, though the
broker (Tansu) reports a shorter end when the last produce batch held several records (a
real cloud worker recovering such a changelog: tests/streams/test_restart.py).
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from faust.types import TP

from streams.apps.common import build_faust_app
from streams.apps.recovery import end_reader, read_end_offsets
from streams.config import WorkerConfig
from tests.kafka_kit import StreamTopics

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_the_end_of_a_partition_is_read_past_the_end_the_broker_reports(
    stream_topics: StreamTopics,
) -> None:
    topic = stream_topics.names.outcomes
    out = stream_topics.producer(**{"linger.ms": 1000})
    for batch in (5, 3):  # flush() sends each group as one batch
        for _ in range(batch):
            out.produce(topic, value=b"entry", partition=0)
        assert out.flush(30) == 0
    app = build_faust_app(WorkerConfig(role="cloud", bootstrap_servers=stream_topics.bootstrap))
    reader = end_reader(app)
    await reader.start()
    try:
        reported = await reader.end_offsets([TopicPartition(topic, 0)])
    finally:
        await reader.stop()
    assert reported[TopicPartition(topic, 0)] == 6  # the last batch's base offset + 1
    ends = await asyncio.wait_for(
        read_end_offsets(lambda: end_reader(app), {TP(topic, 0): 6, TP(topic, 1): 0}),
        timeout=60,
    )
    assert ends == {TP(topic, 0): 8, TP(topic, 1): 0}
