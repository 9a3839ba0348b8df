"""Topics as code: the shipped spec, idempotent apply and drift detection on the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from infra.exceptions import ConfigurationError, TopicDriftError
from infra.topic_overrides import effective_spec
from infra.topics import TopicsSpec, apply_topics, internal_topics, load_spec, with_internal_topics
from schemas.topics import Topics

PRODUCTION = Path(__file__).parents[2] / "deploy" / "kafka" / "production.toml"


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


def _overlay(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overrides.toml"
    path.write_text(text)
    return path


def test_overlay_merges_defaults_then_each_topics_own(tmp_path: Path) -> None:
    overlay = _overlay(
        tmp_path,
        "[defaults]\nreplication_factor = 3\nmin_insync_replicas = 2\n"
        '[topics."scanner.frames"]\npartitions = 16\nreplication_factor = 4\n'
        '[topics."detections"]\npartitions = 12\n[topics."guard.verdicts"]\npartitions = 12\n',
    )
    shipped = load_spec()

    spec = effective_spec(None, overlay)

    frames = spec.topics["scanner.frames"]
    assert (frames.partitions, frames.replication_factor, frames.min_insync_replicas) == (16, 4, 2)
    alerts = spec.topics["alerts"]
    assert alerts.partitions == shipped.topics["alerts"].partitions
    assert (alerts.replication_factor, alerts.configs()["min.insync.replicas"]) == (3, "2")
    assert alerts.key == shipped.topics["alerts"].key
    assert spec.names == shipped.names


def test_internal_topics_follow_the_join(tmp_path: Path) -> None:
    overlay = _overlay(
        tmp_path,
        "[defaults]\nreplication_factor = 3\nmin_insync_replicas = 2\n"
        '[topics."detections"]\npartitions = 12\n[topics."guard.verdicts"]\npartitions = 12\n',
    )
    changelog, expiry = internal_topics(effective_spec(None, overlay), "site-a-")

    assert changelog.name == "site-a-leakguard-cloud-frames-changelog"
    assert expiry.name == "site-a-leakguard-cloud-expiry"
    for topic in (changelog, expiry):
        assert (topic.partitions, topic.replication_factor) == (12, 3)
        assert topic.configs()["min.insync.replicas"] == "2"
    assert changelog.configs()["cleanup.policy"] == "compact"
    assert expiry.configs()["cleanup.policy"] == "delete"


def test_the_shipped_production_overlay_keeps_three_copies_and_two_in_sync() -> None:
    spec = with_internal_topics(effective_spec(None, PRODUCTION))

    assert len(spec.names) == len(load_spec().names) + 2
    for topic in spec.topics.values():
        assert (topic.replication_factor, topic.min_insync_replicas) == (3, 2), topic.name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[topics."detection"]\npartitions = 8\n', r"unknown topic 'detection'"),
        ('[topics."alerts"]\npartition = 8\n', r"topic 'alerts'.*partition: Extra inputs"),
        ('[topics."alerts"]\ncleanup_policy = "compact"\n', r"'alerts'.*cleanup_policy"),
        ("[defaults]\npartitions = 8\n", r"\[defaults\].*partitions: Extra inputs"),
        ("[default]\nreplication_factor = 3\n", r"unknown section default"),
        ('[topics."alerts"]\npartitions = 0\n', r"'alerts'.*partitions"),
        (
            '[topics."detections"]\npartitions = 12\n',
            r"co-partitioned.*detections 12, guard.verdicts 8",
        ),
        (
            "[defaults]\nmin_insync_replicas = 2\n",
            r"topic 'scanner.frames': min_insync_replicas 2 > replication_factor 1",
        ),
    ],
)
def test_a_bad_overlay_fails_naming_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        effective_spec(None, _overlay(tmp_path, text))


@pytest.mark.integration
def test_apply_with_an_overlay_creates_the_joins_internal_topics(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    """The overlay's partitions reach the broker and the internal topics follow the join.

    One broker holds one copy, so replication stays 1 here; the shipped overlay's 3 is
    checked in the plan above.
    """
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    overlay = _overlay(
        tmp_path,
        "[defaults]\nmin_insync_replicas = 1\n"
        '[topics."detections"]\npartitions = 6\n[topics."guard.verdicts"]\npartitions = 6\n',
    )
    merged = effective_spec(None, overlay)
    internal = internal_topics(merged, f"{unique_name}-")
    spec = TopicsSpec(
        {**_renamed(merged, unique_name).topics, **{topic.name: topic for topic in internal}}
    )

    report = apply_topics(admin, spec)

    assert sorted(report.created) == sorted(spec.names)
    metadata = admin.list_topics(timeout=10).topics
    assert len(metadata[f"{unique_name}.detections"].partitions) == 6
    for topic in internal:
        assert len(metadata[topic.name].partitions) == 6
    changelog = ConfigResource("topic", internal[0].name)
    configs = admin.describe_configs([changelog])[changelog].result(timeout=10)
    assert configs["cleanup.policy"].value == "compact"
    assert apply_topics(admin, spec).created == []
