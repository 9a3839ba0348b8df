"""The alert worker: the ``alerts`` topic into the delivery store, then to the control centre.

Offsets are committed once the alerts are recorded in the (durable) delivery store, not once
they are delivered: from then on the store owns the retries, so an unreachable control
centre never holds back the topic, and a crash before the commit only re-records alerts the
store already has (it deduplicates by ``alert_id``). Undecodable messages go to the
dead-letter topic, and so do alerts the cloud worker did not tag when a producer keyring is
given (:mod:`schemas.authenticity`): alert ids are derived from the frame, so a forged alert
recorded first would otherwise make the store drop the real one as a duplicate.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from leakguard.health import Checks
from schemas import Codec
from schemas.authenticity import AuthenticityError, EventKeyring
from schemas.consume import EventBatches
from schemas.numbers import non_finite_field
from sinks.alerts.delivery import AlertDelivery
from sinks.exceptions import SinkError

__all__ = ["AlertWorker"]

#: Messages per poll, and the longest a poll waits: delivery rounds run between polls.
CONSUME_BATCH_MESSAGES: Final = 500
POLL_TIMEOUT_S: Final = 0.5


class AlertWorker:
    """Consumes ``topic`` with ``consumer`` (auto-commit off) into ``delivery``."""

    def __init__(
        self,
        *,
        consumer: Any,
        delivery: AlertDelivery,
        topic: str,
        producer: Any,
        dead_letter_topic: str,
        worker_id: str = "alert-delivery",
        codec: Codec | None = None,
        keyring: EventKeyring | None = None,
    ) -> None:
        self._batches = EventBatches(
            consumer=consumer,
            producer=producer,
            routes={topic: "Alert"},
            dead_letter_topic=dead_letter_topic,
            worker_id=worker_id,
            codec=codec,
            batch_messages=CONSUME_BATCH_MESSAGES,
            poll_timeout_s=POLL_TIMEOUT_S,
        )
        self._delivery = delivery
        self._keyring = keyring

    def checks(self) -> Checks:
        """Health of the consuming loop (:meth:`schemas.consume.EventBatches.checks`)."""
        return self._batches.checks()

    def subscribe(self) -> None:
        """Join the consumer group on the alerts topic."""
        self._batches.subscribe()

    def step(self) -> int:
        """Record one batch of alerts, commit it, run one delivery round; returns accepted."""
        messages = self._batches.poll()
        for message in messages:
            decoded = self._batches.record(message)
            if decoded is not None and self._acceptable(message, decoded[1]):
                self._delivery.enqueue(decoded[1])
        if messages:
            self._batches.commit()
        return self._delivery.deliver_due()

    def _acceptable(self, message: Any, record: dict[str, Any]) -> bool:
        """Whether the alert may be recorded; a forged one, or one with a NaN or infinite
        number (no strict JSON parser at the control centre takes it), is dead-lettered."""
        try:
            if self._keyring is not None:
                self._keyring.verify(
                    "Alert", str(record["checkpoint"]), message.value(), message.headers()
                )
            if (field := non_finite_field(record)) is not None:
                raise SinkError(f"Alert.{field} is not a finite number")
        except (AuthenticityError, SinkError) as exc:
            self._batches.dead_letter(message, exc)
            return False
        return True

    def run(self, stop: threading.Event) -> None:
        """Consume and deliver until ``stop`` is set."""
        self.subscribe()
        try:
            while not stop.is_set():
                self.step()
        finally:
            self._batches.consumer.close()
