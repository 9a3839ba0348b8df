"""Topics as code: the declarative spec in ``topics.toml`` and the idempotent ``apply``.

Partition counts are part of the contract, not a tuning knob: keys map to partitions by
count, so a topic with the wrong count silently breaks per-lane ordering and the
co-partitioned outcome join. That is why ``apply`` never "fixes" a partition count and
reports it as drift instead, and why every topic must exist before a worker starts (the
embedded broker auto-creates unknown topics with 4 partitions).
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
from streams.kafka_admin import create_topics

#: The spec shipped with leakguard.
DEFAULT_SPEC_PATH: Final = Path(__file__).with_name("topics.toml")
#: Time an admin request may take before the broker counts as unreachable.
ADMIN_TIMEOUT_S: Final = 15.0


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

    def configs(self) -> dict[str, str]:
        """The topic-level Kafka configuration this spec implies."""
        return {
            "retention.ms": str(self.retention_ms),
            "max.message.bytes": str(self.max_message_bytes),
            "cleanup.policy": self.cleanup_policy,
        }


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
    return TopicsSpec(topics)


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
