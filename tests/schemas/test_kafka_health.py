"""Kafka's part of every consumer's health, on the real broker: the group lag's known
answer as the group commits, the consume loop's assignment check, and the broker check
answering for a live broker and failing, with its reason, where nothing listens."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer
from prometheus_client import CollectorRegistry

from infra.processes import free_port
from schemas.consume import EventBatches
from schemas.kafka_health import GroupLag, broker_check
from tests.kafka_kit import create_topics, group_consumer, make_producer

pytestmark = pytest.mark.integration


def test_group_lag_is_the_backlog_and_falls_to_zero_as_the_group_commits(
    kafka_bootstrap: str, unique_name: str
) -> None:
    topic = f"{unique_name}.alerts"
    create_topics(kafka_bootstrap, {topic: 1})
    producer = make_producer(kafka_bootstrap)
    for index in range(5):
        producer.produce(topic, key=b"k", value=f"{index}".encode())
        # One record per batch: Tansu reports a partition's end as its last batch's first
        # offset + 1, so a batched backlog would read smaller than it is.
        producer.flush(10)
    registry = CollectorRegistry()
    lag = GroupLag(
        client={"bootstrap.servers": kafka_bootstrap},
        group=unique_name,
        topics=[topic],
        registry=registry,
    )
    batches = EventBatches(
        consumer=group_consumer(kafka_bootstrap, unique_name),
        producer=producer,
        routes={topic: "Alert"},
        dead_letter_topic=f"{unique_name}.deadletter",
        worker_id="test-worker",
    )
    labels = {"group": unique_name, "topic": topic, "partition": "0"}
    try:
        assert lag.measure() == {(topic, 0): 5}
        assert registry.get_sample_value("leakguard_consumer_lag", labels) == 5
        assert broker_check(lag.consumer)().ok

        assignment = batches.checks().ready["assignment"]
        assert not assignment().ok
        batches.subscribe()
        messages = []
        deadline = time.monotonic() + 60
        while len(messages) < 5 and time.monotonic() < deadline:
            messages += batches.poll()
        assert len(messages) == 5
        assert assignment().detail == "1 partitions assigned"

        batches.commit({(topic, 0): 2})
        assert lag.measure() == {(topic, 0): 3}
        batches.commit()
        assert lag.measure() == {(topic, 0): 0}
        assert registry.get_sample_value("leakguard_consumer_lag", labels) == 0
    finally:
        batches.consumer.close()
        lag.stop()


def test_broker_check_fails_with_its_reason_where_no_broker_answers() -> None:
    nowhere = Consumer({"bootstrap.servers": f"127.0.0.1:{free_port()}", "group.id": "nobody"})
    try:
        result = broker_check(nowhere)()
    finally:
        nowhere.close()
    assert not result.ok
    assert result.detail.startswith("broker not reachable:")
