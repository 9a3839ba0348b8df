"""Topics as code: the declarative spec in ``topics.toml`` and the idempotent ``apply``.

Partition counts are part of the contract, not a tuning knob: keys map to partitions by
count, so a topic with the wrong count silently breaks per-lane ordering and the
co-partitioned outcome join. That is why ``apply`` never "fixes" a partition count and
reports it as drift instead, and why every topic must exist before a worker starts (the
embedded broker auto-creates unknown topics with 4 partitions). Faust's internal topics of
the cloud join (its table's changelog and the expiry topic) are therefore derived from the
spec's ``detections`` here (:func:`with_internal_topics`) and created with the rest.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.exceptions import ConfigurationError, InfraError, TopicDriftError
from infra.sites import site_base
from schemas.topics import Topics
from streams.config import cloud_expiry_topic, join_table_changelog
from streams.kafka_admin import create_topics

#: The spec shipped with leakguard.
DEFAULT_SPEC_PATH: Final = Path(__file__).with_name("topics.toml")
#: Time an admin request may take before the broker counts as unreachable.
ADMIN_TIMEOUT_S: Final = 15.0
#: The topics the outcome join reads by frame id: keys map to partitions by count, so their
#: counts (and those of the join's internal topics) must be equal.
CO_PARTITIONED: Final = (Topics().detections, Topics().verdicts)


class TopicSpec(BaseModel):
    """One topic as the spec declares it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    partitions: int = Field(gt=0)
    replication_factor: int = Field(gt=0)
    key: str
    retention_ms: int = Field(ge=-1)
    max_message_bytes: int = Field(gt=0)
    cleanup_policy: Literal["delete", "compact"]
    doc: str
    #: Unset leaves the broker's default (1); production sets it below the replication so an
    #: ``acks=all`` write survives one broker down.
    min_insync_replicas: int | None = Field(default=None, gt=0)

    def configs(self) -> dict[str, str]:
        """The topic-level Kafka configuration this spec implies."""
        configs = {
            "retention.ms": str(self.retention_ms),
            "max.message.bytes": str(self.max_message_bytes),
            "cleanup.policy": self.cleanup_policy,
        }
        if self.min_insync_replicas is not None:
            configs["min.insync.replicas"] = str(self.min_insync_replicas)
        return configs


@dataclass(frozen=True)
class TopicsSpec:
    """Every topic of the system, by name."""

    topics: Mapping[str, TopicSpec]

    @property
    def names(self) -> list[str]:
        """Topic names in spec order."""
        return list(self.topics)


def load_spec(path: Path = DEFAULT_SPEC_PATH) -> TopicsSpec:
    """Read and validate a topic spec file; a bad spec fails naming the topic and field."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read topic spec {path}: {exc}") from exc
    defaults = raw.get("defaults", {})
    topics: dict[str, TopicSpec] = {}
    for name, entry in raw.get("topics", {}).items():
        try:
            topics[name] = TopicSpec(name=name, **{**defaults, **entry})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors()
            )
            raise ConfigurationError(f"topic spec {path}, topic {name!r}: {problems}") from exc
    if not topics:
        raise ConfigurationError(f"topic spec {path} declares no topics")
    spec = TopicsSpec(topics)
    check_spec(spec, source=str(path))
    return spec


def check_spec(spec: TopicsSpec, *, source: str) -> None:
    """Refuse a spec whose topics cannot work together, naming ``source`` and the topics.

    The join's topics (every site's copies included: one join reads them all) must keep
    equal partition counts, and a topic cannot require more in-sync replicas than it has
    replicas (every ``acks=all`` write to it would fail).
    """
    counts = {
        name: topic.partitions
        for name, topic in spec.topics.items()
        if name in CO_PARTITIONED or site_base(name) in CO_PARTITIONED
    }
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{name} {count}" for name, count in counts.items())
        raise ConfigurationError(
            f"{source}: co-partitioned topics need equal partition counts, got {listed}"
        )
    for topic in spec.topics.values():
        if (topic.min_insync_replicas or 0) > topic.replication_factor:
            raise ConfigurationError(
                f"{source}, topic {topic.name!r}: min_insync_replicas "
                f"{topic.min_insync_replicas} > replication_factor {topic.replication_factor}"
            )


def join_partitions(spec: TopicsSpec) -> int:
    """The partition count of the outcome join: that of ``detections`` (and verdicts)."""
    return _join_topic(spec).partitions


def _join_topic(spec: TopicsSpec) -> TopicSpec:
    detections = Topics().detections
    if detections not in spec.topics:
        raise ConfigurationError(f"the topic spec declares no {detections!r} for the join")
    return spec.topics[detections]


def internal_topics(spec: TopicsSpec, app_prefix: str = "") -> list[TopicSpec]:
    """The cloud app's internal topics, as the spec's ``detections`` implies them.

    Both are co-partitioned with the join, so they take its partition count, replication
    and min.insync.replicas. The changelog is compacted and kept for ever: it is the join
    table's state, and deleting old entries would forget unresolved frames on recovery.
    """
    join = _join_topic(spec)
    return [
        join.model_copy(
            update={
                "name": join_table_changelog(app_prefix),
                "key": "frame_id: the join table's entries, co-partitioned with detections",
                "cleanup_policy": "compact",
                "retention_ms": -1,
                "doc": "Changelog of the cloud join table (Faust)",
            }
        ),
        join.model_copy(
            update={
                "name": cloud_expiry_topic(app_prefix),
                "key": "frame_id: review-deadline ticks, co-partitioned with detections",
                "doc": "Review-deadline ticks of the cloud join (Faust)",
            }
        ),
    ]


def with_internal_topics(spec: TopicsSpec, app_prefix: str = "") -> TopicsSpec:
    """``spec`` plus the cloud app's internal topics for ``app_prefix``, so ``apply``
    creates them and no worker relies on the broker's auto-creation."""
    extra = {topic.name: topic for topic in internal_topics(spec, app_prefix)}
    return TopicsSpec({**spec.topics, **extra})


@dataclass
class ApplyReport:
    """What ``apply`` found and did."""

    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)


def apply_topics(admin: AdminClient, spec: TopicsSpec, *, check_only: bool = False) -> ApplyReport:
    """Create the topics of ``spec`` that are missing and compare the rest with the spec.

    Idempotent: a second call creates nothing. Existing topics whose partition count or
    configuration differ from the spec are listed in ``report.drift`` and then raised as
    :class:`TopicDriftError`, after the missing topics were created. ``check_only`` creates
    nothing and reports missing topics as drift.
    """
    existing = _partition_counts(admin)
    report = ApplyReport()
    missing = [topic for topic in spec.topics.values() if topic.name not in existing]
    if check_only:
        report.drift.extend(f"{topic.name}: missing" for topic in missing)
    else:
        _create(admin, missing)
        report.created.extend(topic.name for topic in missing)
    present = [topic for topic in spec.topics.values() if topic.name in existing]
    actual_configs = _topic_configs(admin, [topic.name for topic in present])
    for topic in present:
        problems = _drift_of(topic, existing[topic.name], actual_configs[topic.name])
        if problems:
            report.drift.extend(problems)
        else:
            report.unchanged.append(topic.name)
    if report.drift:
        raise TopicDriftError(report.drift)
    return report


def _drift_of(topic: TopicSpec, partitions: int, configs: Mapping[str, str]) -> list[str]:
    problems = []
    if partitions != topic.partitions:
        problems.append(
            f"{topic.name}: {partitions} partitions, spec says {topic.partitions} "
            "(partition counts are never changed in place: recreate the topic or fix the spec)"
        )
    for key, wanted in topic.configs().items():
        actual = configs.get(key)
        if actual is not None and actual != wanted:
            problems.append(f"{topic.name}: {key}={actual}, spec says {wanted}")
    return problems


def _partition_counts(admin: AdminClient) -> dict[str, int]:
    try:
        metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_S)
    except KafkaException as exc:
        raise InfraError(f"cannot list topics: {exc}") from exc
    return {name: len(meta.partitions) for name, meta in metadata.topics.items()}


def _create(admin: AdminClient, topics: list[TopicSpec]) -> None:
    create_topics(
        admin,
        [
            NewTopic(
                topic.name,
                num_partitions=topic.partitions,
                replication_factor=topic.replication_factor,
                config=topic.configs(),
            )
            for topic in topics
        ],
    )


def _topic_configs(admin: AdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    futures = admin.describe_configs(
        [ConfigResource("topic", name) for name in names], request_timeout=ADMIN_TIMEOUT_S
    )
    configs: dict[str, dict[str, str]] = {}
    for resource, future in futures.items():
        try:
            entries = future.result()
        except KafkaException as exc:
            raise InfraError(f"cannot describe topic {resource.name}: {exc}") from exc
        configs[resource.name] = {
            key: entry.value for key, entry in entries.items() if entry.value is not None
        }
    return configs
