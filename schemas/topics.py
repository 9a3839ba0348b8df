"""The topic catalogue: every Kafka topic of leakguard, by its part in the loop, named once.

``infra/topics.toml`` decides how each topic is provisioned (partitions, keys, retention,
sizes) and a test holds its names to this catalogue. Every role takes the names it reads
and writes from a :class:`Topics` handed to it by the wiring; tests that share one broker
hand each worker the same :meth:`Topics.prefixed` copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Final

from schemas.exceptions import SchemaNotFoundError

__all__ = ["EVENTS", "Topics"]

#: The event each topic carries (the record name of its schema), by catalogue field.
EVENTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "frames": "ScanFrame",
        "detections": "Detection",
        "verdicts": "GuardVerdict",
        "outcomes": "Outcome",
        "alerts": "Alert",
        "annotation_tasks": "AnnotationTask",
        "annotations": "Annotation",
        "model_updates": "ModelUpdate",
        "model_status": "ModelStatus",
        "dead_letters": "DeadLetter",
        "tip_results": "TipResult",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Topics:
    """The name of each topic (:data:`EVENTS` says which event it carries)."""

    frames: str = "scanner.frames"
    detections: str = "detections"
    verdicts: str = "guard.verdicts"
    outcomes: str = "outcomes"
    alerts: str = "alerts"
    annotation_tasks: str = "annotation.tasks"
    annotations: str = "annotations"
    model_updates: str = "model.updates"
    model_status: str = "model.status"
    dead_letters: str = "deadletter"
    tip_results: str = "tip.results"

    def prefixed(self, prefix: str) -> Topics:
        """Every name with ``prefix`` in front (tests: one prefix per test)."""
        return Topics(**{f.name: prefix + getattr(self, f.name) for f in fields(self)})

    def names(self) -> tuple[str, ...]:
        """Every topic name, in declaration order."""
        return tuple(getattr(self, f.name) for f in fields(self))

    def routes(self, events: Iterable[str]) -> dict[str, str]:
        """Topic name -> event for the topics carrying ``events``: what a worker that consumes
        them subscribes to and decodes each message as."""
        return {self.carrying(event): event for event in events}

    def carrying(self, event: str) -> str:
        """The name of the topic that carries ``event`` (a schema's record name)."""
        for field, carried in EVENTS.items():
            if carried == event:
                name: str = getattr(self, field)
                return name
        raise SchemaNotFoundError(f"no topic carries {event!r}")
