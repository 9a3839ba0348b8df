"""The join table's recovery reads each changelog partition to its last record, though the
broker (Tansu) reports a shorter end when the last produce batch held several records.

First the end reader alone, against that report; then a real cloud worker whose table
changelog was written in multi-record batches, killed and restarted: every entry is back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as KafkaPartition
from faust.types import TP

from schemas import Codec, Outcome
from schemas.events import GuardVerdict
from streams.apps.common import build_faust_app
from streams.apps.recovery import end_reader, read_end_offsets
from streams.config import WorkerConfig
from tests.streams.conftest import StreamTopics, Workers, consume
from tests.streams.helpers import detection, obj
from tests.streams.test_restart import _joined, _kill, free_port

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


def _partitions_reported_short(bootstrap: str, topic: str) -> int:
    """How many partitions of ``topic`` hold records past the end the broker reports."""
    records = consume(bootstrap, topic, until=lambda _: False, timeout_s=3)
    ends: dict[int, int] = {}
    for message in records:
        ends[message.partition()] = max(ends.get(message.partition(), 0), message.offset() + 1)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-reader"})
    try:
        reported = {
            partition: consumer.get_watermark_offsets(KafkaPartition(topic, partition), 10)[1]
            for partition in ends
        }
    finally:
        consumer.close()
    return sum(reported[partition] < end for partition, end in ends.items())


def test_a_table_written_in_multi_record_batches_is_recovered_whole(
    stream_topics: StreamTopics, workers: Workers, tmp_path: Path
) -> None:
    """Verdicts joined in bursts before a ``kill -9``, their detections after: the restarted
    worker recovered every verdict, the last records of each changelog batch included."""
    codec = Codec()
    names = stream_topics.names
    args = ("--frame-store", str(tmp_path / "fs"), "--unreviewed-after", "3600")
    port = free_port()
    cloud = workers.start("cloud", *args, "--metrics-port", str(port))
    frames = 400
    out = stream_topics.producer()
    for index in range(frames):
        verdict = GuardVerdict(
            checkpoint="cp", lane="1", frame_id=f"f{index}", model_version="m1",
            detection_event_id=uuid.uuid4(), guard_id="g1", decision="confirmed",
        )  # fmt: skip
        out.produce(names.verdicts, key=verdict.frame_id.encode(), value=codec.encode(verdict))
    assert out.flush(30) == 0
    deadline = time.monotonic() + 120
    while _joined(port) < frames and time.monotonic() < deadline:
        workers.check_alive()
        time.sleep(0.5)
    assert _joined(port) == frames
    time.sleep(2)  # the table's changelog writes leave with the producer's next batch
    changelog = f"{stream_topics.prefix}leakguard-cloud-frames-changelog"
    assert _partitions_reported_short(stream_topics.bootstrap, changelog) > 0, (
        "no changelog partition ends in a multi-record batch: the test proves nothing"
    )
    _kill(workers, cloud)
    workers.start("cloud", *args)
    for index in range(frames):
        seen = detection(obj("o0", (0, 0, 10, 10)), frame_id=f"f{index}")
        out.produce(names.detections, key=seen.frame_id.encode(), value=codec.encode(seen))
    assert out.flush(30) == 0
    outcomes = consume(
        stream_topics.bootstrap, names.outcomes, until=lambda got: len(got) >= frames,
        timeout_s=180, workers=workers,
    )  # fmt: skip
    decoded = [codec.decode(m.value(), Outcome) for m in outcomes]
    assert sorted(o.frame_id for o in decoded) == sorted(f"f{i}" for i in range(frames))
    assert {o.kind for o in decoded} == {"tp"}
