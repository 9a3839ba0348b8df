"""The model registry's announcements on ``model.updates``, wired to the configured broker.

Edges follow the registry only through ``model.updates``. The registry lives on disk, the
embedded broker's topics (without ``--durable``) in memory: after a restart of the stack the
topic is empty and a new edge would never learn which model is active. So ``stack up``
re-announces the current rollout state (:func:`announce_rollout_state`) whenever a registry
and its signing key are configured; the ``models`` commands use the same paths and producer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from confluent_kafka import Producer

from infra.settings import LeakguardSettings
from retrain.exceptions import RegistryError
from schemas.codec import Codec
from schemas.events import ModelUpdate
from schemas.topics import Topics

if TYPE_CHECKING:
    from retrain.registry import Registry

__all__ = [
    "AnnounceOutcome",
    "RegistryPaths",
    "announce_rollout_state",
    "kafka_announcer",
    "open_registry",
    "registry_paths",
]

#: How long an announcement may wait for the broker's acknowledgement.
_FLUSH_TIMEOUT_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class RegistryPaths:
    """Where the registry, its signing key and the retrain work dir are, defaults applied."""

    registry_dir: Path
    signing_key: Path
    workdir: Path


def registry_paths(settings: LeakguardSettings) -> RegistryPaths:
    """The ``LEAKGUARD_RETRAIN__*`` paths, each defaulting to a place under the data dir."""
    block, data = settings.retrain, settings.data_dir
    return RegistryPaths(
        registry_dir=block.registry_dir or data / "registry",
        signing_key=block.signing_key_path or data / "keys" / "registry-ed25519.pem",
        workdir=block.workdir or data / "retrain",
    )


def kafka_announcer(
    settings: LeakguardSettings, bootstrap_servers: str, topic: str
) -> Callable[[ModelUpdate], None]:
    """A callback that produces a ``ModelUpdate`` to ``topic`` and waits until the broker has
    it, so a registry never records a decision the edges cannot read."""
    producer = Producer({"bootstrap.servers": bootstrap_servers, **settings.kafka.client_config()})
    codec = Codec()

    def announce(update: ModelUpdate) -> None:
        producer.produce(topic, key=update.model_version.encode(), value=codec.encode(update))
        if producer.flush(_FLUSH_TIMEOUT_S) > 0:
            raise RegistryError(f"the broker did not take the update of {update.model_version}")

    return announce


def open_registry(
    settings: LeakguardSettings, *, announce: Callable[[ModelUpdate], None] | None = None
) -> Registry:
    """The configured registry with its signing key (created when absent)."""
    # The registry imports torch through detector.artifacts: only its users pay for it.
    from retrain.keys import load_or_create_private_key
    from retrain.registry import Registry

    paths = registry_paths(settings)
    return Registry(
        paths.registry_dir,
        signing_key=load_or_create_private_key(paths.signing_key),
        announce=announce,
    )


@dataclass(frozen=True, slots=True)
class AnnounceOutcome:
    """What the start-up announcement did: the decisions sent, why there were none to send
    (``skipped``), or why sending them failed (``failed``)."""

    announced: tuple[ModelUpdate, ...] = ()
    skipped: str | None = None
    failed: str | None = None


def announce_rollout_state(
    settings: LeakguardSettings, bootstrap_servers: str, *, topics: Topics | None = None
) -> AnnounceOutcome:
    """Announce every version in shadow, canary or active again, as new signed decisions.

    Skipped (with the reason) when no signing key or no registry exists: a key made here
    would be one no edge trusts, and an empty registry has nothing to roll out.
    """
    paths = registry_paths(settings)
    if not paths.signing_key.is_file():
        return AnnounceOutcome(skipped=f"no registry signing key at {paths.signing_key}")
    if not paths.registry_dir.is_dir():
        return AnnounceOutcome(skipped=f"no model registry at {paths.registry_dir}")
    topic = (topics or Topics()).model_updates
    registry = open_registry(settings, announce=kafka_announcer(settings, bootstrap_servers, topic))
    events = tuple(registry.announce_current())
    if not events:
        return AnnounceOutcome(skipped="no version is in shadow, canary or active")
    return AnnounceOutcome(announced=events)
