"""Per-environment overlays of the topic spec: replication, min.insync.replicas, partitions.

The spec (``infra/topics.toml``) says what every topic is; an overlay says how big it is in
one environment, so a production cluster of three brokers and the one-node embedded broker
share one spec. An overlay may only change sizes and limits, never keys or cleanup policy
(those are contracts of the code), and only of topics the spec declares: a typo must fail
rather than silently leave the spec's value in place. Example: ``deploy/kafka/production.toml``.

Format::

    [defaults]                     # every topic of the spec
    replication_factor = 3
    min_insync_replicas = 2

    [topics."scanner.frames"]      # one topic; wins over [defaults]
    partitions = 16
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.exceptions import ConfigurationError
from infra.topics import DEFAULT_SPEC_PATH, TopicsSpec, check_spec, load_spec

__all__ = ["DefaultsOverride", "TopicOverride", "TopicOverrides", "effective_spec"]

#: The tables an overlay file may hold.
_SECTIONS: Final = frozenset({"defaults", "topics"})

_Model = TypeVar("_Model", bound=BaseModel)


class DefaultsOverride(BaseModel):
    """What an overlay may set for every topic: how many copies, not how many partitions
    (``model.updates`` must stay on one partition to keep rollout order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    replication_factor: int | None = Field(default=None, gt=0)
    min_insync_replicas: int | None = Field(default=None, gt=0)


class TopicOverride(DefaultsOverride):
    """What an overlay may set for one topic."""

    partitions: int | None = Field(default=None, gt=0)
    retention_ms: int | None = Field(default=None, ge=-1)
    max_message_bytes: int | None = Field(default=None, gt=0)


class TopicOverrides(BaseModel):
    """A parsed overlay file."""

    model_config = ConfigDict(frozen=True)

    defaults: DefaultsOverride = DefaultsOverride()
    topics: Mapping[str, TopicOverride] = {}

    @classmethod
    def load(cls, path: Path) -> TopicOverrides:
        """Read an overlay; an unknown section, topic field or bad value fails naming it."""
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read topic overrides {path}: {exc}") from exc
        unknown = sorted(set(raw) - _SECTIONS)
        if unknown:
            raise ConfigurationError(
                f"topic overrides {path}: unknown section {', '.join(unknown)} "
                "(allowed: [defaults], [topics.NAME])"
            )
        defaults = _parse(DefaultsOverride, raw.get("defaults", {}), f"{path}, [defaults]")
        topics = {
            name: _parse(TopicOverride, entry, f"{path}, topic {name!r}")
            for name, entry in raw.get("topics", {}).items()
        }
        return cls(defaults=defaults, topics=topics)

    def apply(self, spec: TopicsSpec, *, source: str) -> TopicsSpec:
        """``spec`` with this overlay merged over it: spec < ``[defaults]`` < the topic's own.

        Refuses a topic the spec does not declare and a result the spec's rules forbid
        (co-partitioned topics with different counts, more in-sync replicas than replicas).
        """
        unknown = sorted(set(self.topics) - set(spec.topics))
        if unknown:
            raise ConfigurationError(
                f"{source}: unknown topic {', '.join(map(repr, unknown))} "
                f"(the spec declares {', '.join(spec.names)})"
            )
        defaults = self.defaults.model_dump(exclude_none=True)
        merged = {}
        for name, topic in spec.topics.items():
            own = self.topics.get(name, TopicOverride()).model_dump(exclude_none=True)
            merged[name] = topic.model_copy(update={**defaults, **own})
        result = TopicsSpec(merged)
        check_spec(result, source=source)
        return result


def effective_spec(spec_path: Path | None = None, overrides_path: Path | None = None) -> TopicsSpec:
    """The spec at ``spec_path`` (default: the packaged one) with the overlay at
    ``overrides_path`` merged over it, if any: what ``topics apply`` provisions."""
    spec = load_spec(spec_path or DEFAULT_SPEC_PATH)
    if overrides_path is None:
        return spec
    return TopicOverrides.load(overrides_path).apply(spec, source=str(overrides_path))


def _parse(model: type[_Model], entry: object, where: str) -> _Model:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"topic overrides {where}: expected a table")
    try:
        return model(**entry)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigurationError(f"topic overrides {where}: {problems}") from exc
