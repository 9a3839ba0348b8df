"""Topics as code: the shipped spec, idempotent apply and drift detection on the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from infra.exceptions import ConfigurationError, TopicDriftError
from infra.topics import TopicsSpec, apply_topics, load_spec
from schemas.topics import Topics


def _renamed(spec: TopicsSpec, prefix: str) -> TopicsSpec:
    """The spec with every topic name prefixed, so tests never collide on a shared broker."""
    return TopicsSpec(
        {
            f"{prefix}.{name}": topic.model_copy(update={"name": f"{prefix}.{name}"})
            for name, topic in spec.topics.items()
        }
    )


def test_the_spec_provisions_exactly_the_catalogues_topics() -> None:
    spec = load_spec()
    assert sorted(spec.names) == sorted(Topics().names())
    assert len(set(Topics().names())) == len(Topics().names())
    assert spec.topics["detections"].partitions == spec.topics["guard.verdicts"].partitions
    frames = spec.topics["scanner.frames"]
    assert spec.topics["deadletter"].max_message_bytes > frames.max_message_bytes


def test_bad_spec_names_topic_and_field(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text(
        '[topics."x"]\npartitions = 0\nreplication_factor = 1\nkey = "k"\n'
        'retention_ms = 1\nmax_message_bytes = 1\ncleanup_policy = "delete"\ndoc = "d"\n'
    )
    with pytest.raises(ConfigurationError, match=r"'x'.*partitions"):
        load_spec(path)


@pytest.mark.integration
def test_apply_twice_gives_the_same_topics(kafka_bootstrap: str, unique_name: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    spec = _renamed(load_spec(), unique_name)

    first = apply_topics(admin, spec)
    second = apply_topics(admin, spec)

    assert sorted(first.created) == sorted(spec.names)
    assert second.created == []
    assert sorted(second.unchanged) == sorted(spec.names)
    metadata = admin.list_topics(timeout=10).topics
    for topic in spec.topics.values():
        assert len(metadata[topic.name].partitions) == topic.partitions


@pytest.mark.integration
def test_changed_partition_count_is_reported_as_drift(
    kafka_bootstrap: str, unique_name: str
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    spec = _renamed(load_spec(), unique_name)
    apply_topics(admin, spec)
    alerts = f"{unique_name}.alerts"
    changed = TopicsSpec(
        {**spec.topics, alerts: spec.topics[alerts].model_copy(update={"partitions": 6})}
    )

    with pytest.raises(TopicDriftError) as info:
        apply_topics(admin, changed)

    assert info.value.drifts == [
        f"{alerts}: 4 partitions, spec says 6 (partition counts are never changed in place: "
        "recreate the topic or fix the spec)"
    ]
    assert len(admin.list_topics(timeout=10).topics[alerts].partitions) == 4


@pytest.mark.integration
def test_check_only_creates_nothing(kafka_bootstrap: str, unique_name: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    spec = _renamed(load_spec(), unique_name)
    with pytest.raises(TopicDriftError, match="missing"):
        apply_topics(admin, spec, check_only=True)
    assert not set(spec.names) & set(admin.list_topics(timeout=10).topics)
