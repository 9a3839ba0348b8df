"""Verdicts to Kafka, acknowledged before the guard's screen moves on.

The guard's click returns only once the broker has the verdict, so "answered" on screen
means "on ``guard.verdicts``"; a failure is shown and the frame stays in the queue. Keys are
frame ids partitioned with murmur2 like Faust, so each verdict lands on the partition of its
detection for the outcome join (docs/streams.md, "Partitioner").
"""

from __future__ import annotations

import threading
from typing import Any, Final

from confluent_kafka import KafkaError, Message, Producer

from schemas.authenticity import Tagger
from schemas.codec import Codec
from schemas.events import GuardVerdict
from streams.console.exceptions import PublishError

__all__ = ["VerdictPublisher"]

#: How long a guard waits for the broker's acknowledgement before being told to retry.
DELIVERY_TIMEOUT_S: Final = 10.0


class VerdictPublisher:
    """Publishes :class:`GuardVerdict` events to ``topic``, tagged by ``tag`` (the console's
    guard key, :mod:`schemas.authenticity`) when given; ``producer`` built when absent."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str,
        client_config: dict[str, str] | None = None,
        producer: Any = None,
        codec: Codec | None = None,
        timeout_s: float = DELIVERY_TIMEOUT_S,
        tag: Tagger | None = None,
    ) -> None:
        self.topic = topic
        self._tag = tag
        self._codec = codec if codec is not None else Codec()
        self._timeout_s = timeout_s
        self._producer = producer or Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                **(client_config or {}),
                "partitioner": "murmur2_random",
                "message.timeout.ms": int(timeout_s * 1000),
            }
        )
        # One verdict at a time: flush() waits for every queued message, so interleaved
        # requests would each wait for the others.
        self._lock = threading.Lock()

    def publish(self, verdict: GuardVerdict) -> None:
        """Send ``verdict`` and wait for the broker's acknowledgement."""
        errors: list[KafkaError] = []

        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                errors.append(error)

        value = self._codec.encode(verdict)
        with self._lock:
            self._producer.produce(
                self.topic,
                key=verdict.frame_id.encode(),
                value=value,
                headers=None if self._tag is None else self._tag(value),
                on_delivery=delivered,
            )
            left = self._producer.flush(self._timeout_s)
        if errors or left:
            reason = errors[0] if errors else "no acknowledgement in time"
            raise PublishError(f"verdict not recorded by Kafka ({reason}); try again")

    def close(self) -> None:
        """Deliver whatever is still queued."""
        self._producer.flush(self._timeout_s)
