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

    [topics."scanner.frames.north"]  # one site's copy (``topics apply --site north``);
    partitions = 32                  # wins over its base topic's entry

A site's topics (:mod:`infra.sites`) are copies of their base topic as the overlay sized it,
so a site needs an entry only where it differs from the rest of the fleet.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.exceptions import ConfigurationError
from infra.sites import SITE_TOPIC_FIELDS, check_sites, site_base, site_topic_name
from infra.topics import DEFAULT_SPEC_PATH, TopicSpec, TopicsSpec, check_spec, load_spec
from schemas.topics import Topics

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

    def apply(self, spec: TopicsSpec, *, source: str, sites: Iterable[str] = ()) -> TopicsSpec:
        """``spec`` with this overlay merged over it: spec < ``[defaults]`` < the topic's own,
        plus a copy of each site topic's base for every one of ``sites``, the site copy's own
        entry merged over it.

        Refuses a topic the spec does not declare and a result the spec's rules forbid
        (co-partitioned topics with different counts, more in-sync replicas than replicas).
        An entry for a site copy is kept for when that site is provisioned: one environment's
        overlay serves commands that name different sites.
        """
        copies = _site_copies(spec, check_sites(sites))
        unknown = sorted(
            name for name in self.topics if name not in spec.topics and site_base(name) is None
        )
        if unknown:
            raise ConfigurationError(
                f"{source}: unknown topic {', '.join(map(repr, unknown))} "
                f"(the spec declares {', '.join(spec.names)}; sites have copies NAME.SITE of "
                f"{', '.join(_site_bases(spec))})"
            )
        merged = {name: self._merged(topic) for name, topic in spec.topics.items()}
        for name, base in copies.items():
            merged[name] = self._merged(merged[base].model_copy(update={"name": name}))
        result = TopicsSpec(merged)
        check_spec(result, source=source)
        return result

    def _merged(self, topic: TopicSpec) -> TopicSpec:
        """``topic`` with ``[defaults]`` and then its own entry merged over it."""
        defaults = self.defaults.model_dump(exclude_none=True)
        own = self.topics.get(topic.name, TopicOverride()).model_dump(exclude_none=True)
        return topic.model_copy(update={**defaults, **own})


def _site_bases(spec: TopicsSpec) -> list[str]:
    """The base topics the spec declares that sites have copies of."""
    bases = [getattr(Topics(), field) for field in SITE_TOPIC_FIELDS]
    return [base for base in bases if base in spec.topics]


def _site_copies(spec: TopicsSpec, sites: tuple[str, ...]) -> dict[str, str]:
    """Site topic name -> its base topic, for the base topics the spec declares."""
    return {site_topic_name(base, site): base for site in sites for base in _site_bases(spec)}


def effective_spec(
    spec_path: Path | None = None, overrides_path: Path | None = None, sites: Iterable[str] = ()
) -> TopicsSpec:
    """The spec at ``spec_path`` (default: the packaged one) with the topics of ``sites``
    added and the overlay at ``overrides_path`` merged over it, if any: what ``topics apply``
    provisions."""
    spec_path = spec_path or DEFAULT_SPEC_PATH
    spec = load_spec(spec_path)
    if overrides_path is None:
        return TopicOverrides().apply(spec, source=str(spec_path), sites=sites)
    return TopicOverrides.load(overrides_path).apply(spec, source=str(overrides_path), sites=sites)


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
