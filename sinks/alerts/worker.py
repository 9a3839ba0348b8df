"""The alert worker: the ``alerts`` topic into the delivery store, then to the control centre.

Offsets are committed once the alerts are recorded in the (durable) delivery store, not once
they are delivered: from then on the store owns the retries, so an unreachable control
centre never holds back the topic, and a crash before the commit only re-records alerts the
store already has (it deduplicates by ``alert_id``). Undecodable messages go to the
dead-letter topic.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from schemas import Codec, DecodeError
from sinks.alerts.delivery import AlertDelivery
from sinks.dead_letters import dead_letter_message

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
    ) -> None:
        self._consumer = consumer
        self._delivery = delivery
        self._topic = topic
        self._producer = producer
        self._dead_letter_topic = dead_letter_topic
        self._worker_id = worker_id
        self._codec = codec if codec is not None else Codec()

    def subscribe(self) -> None:
        """Join the consumer group on the alerts topic."""
        self._consumer.subscribe([self._topic])

    def step(self) -> int:
        """Record one batch of alerts, commit it, run one delivery round; returns accepted."""
        messages = self._consumer.consume(CONSUME_BATCH_MESSAGES, POLL_TIMEOUT_S)
        taken = [m for m in messages if m.error() is None]
        for message in taken:
            try:
                record = self._codec.decode_record(message.value() or b"", "Alert")
            except DecodeError as exc:
                dead_letter_message(
                    self._producer,
                    message,
                    exc,
                    dead_letter_topic=self._dead_letter_topic,
                    worker_id=self._worker_id,
                    codec=self._codec,
                )
                continue
            self._delivery.enqueue(record)
        if taken:
            self._producer.flush(10)
            self._consumer.commit(asynchronous=False)
        return self._delivery.deliver_due()

    def run(self, stop: threading.Event) -> None:
        """Consume and deliver until ``stop`` is set."""
        self.subscribe()
        try:
            while not stop.is_set():
                self.step()
        finally:
            self._consumer.close()
