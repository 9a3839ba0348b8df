"""Grafana annotations straight from the event stream.

Every ``ModelUpdate`` (a rollout step) and every ``Alert`` becomes an annotation on the
leakguard dashboard, so a security manager sees why a curve moved without anyone running a
command. :class:`AnnotationWorker` consumes ``model.updates`` and ``alerts`` with a
confluent-kafka consumer (auto-commit off), turns each record into an annotation with the
pure :func:`annotation_for`, posts it through
:class:`~sinks.dashboards.push.GrafanaPublisher`, and commits a batch's offsets only once
every annotation of the batch is in Grafana.

Re-delivery is harmless: each annotation carries its event's key as a tag (the ``alert_id``,
which a re-sent or confirmed alert keeps, or the ``ModelUpdate``'s ``event_id``), and the
publisher looks the key up before posting. While Grafana is unreachable or refuses, the
worker pauses its partitions, keeps polling so it stays in its group, and retries the same
message with exponential back-off, indefinitely: nothing is skipped. Undecodable messages go
to the dead-letter topic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from leakguard.health import Checks
from schemas import Codec
from schemas.consume import EventBatches
from sinks.dashboards.push import (
    AnnotationRequest,
    GrafanaPublisher,
    alert_annotation,
    rollout_annotation,
)
from sinks.exceptions import SinkError

__all__ = ["ANNOTATED_EVENTS", "AnnotationWorker", "annotation_for"]

logger = logging.getLogger(__name__)

#: Spec topic name -> the event it carries, for the events that become annotations.
ANNOTATED_EVENTS: Final[tuple[str, ...]] = ("ModelUpdate", "Alert")
#: Rollouts and alerts are rare next to frames: small polls keep a batch's retries short.
CONSUME_BATCH_MESSAGES: Final = 100
POLL_TIMEOUT_S: Final = 0.5
#: First wait after Grafana failed, doubled per failure up to ``retry_max_s``.
RETRY_INITIAL_S: Final = 0.5


def annotation_for(event_name: str, record: Mapping[str, Any]) -> AnnotationRequest:
    """The annotation of one decoded ``ModelUpdate`` or ``Alert`` record (``decode_record``),
    keyed so that a re-delivered event finds the annotation it already made."""
    if event_name == "ModelUpdate":
        return rollout_annotation(
            model_version=record["model_version"],
            rollout_mode=record["rollout_mode"],
            at=record["event_time"],
            targets=[
                target["checkpoint"] + ("" if target["lane"] is None else f"/{target['lane']}")
                for target in record["targets"]
            ],
            key=str(record["event_id"]),
        )
    if event_name == "Alert":
        # A re-sent or guard-confirmed alert keeps its alert_id: still one annotation.
        alert_id = str(record["alert_id"])
        return alert_annotation(
            alert_id=alert_id,
            checkpoint=record["checkpoint"],
            lane=record["lane"],
            classes=sorted({item["class_name"] for item in record["items"]}),
            at=record["event_time"],
            key=alert_id,
        )
    raise SinkError(f"no annotation for {event_name} events")


class AnnotationWorker:
    """Consumes the annotated topics into Grafana annotations; see the module docstring.

    Keyword-only options: ``consumer`` (confluent-kafka, ``enable.auto.commit=false``),
    ``publisher``, ``topic_events`` (real topic name -> ``ModelUpdate`` or ``Alert``),
    ``producer`` and ``dead_letter_topic`` (undecodable messages), ``worker_id``, ``codec``,
    ``retry_max_s`` (longest wait between tries while Grafana fails, default 30 s) and
    ``clock`` (monotonic seconds; waits poll the consumer until it passes the deadline).
    """

    def __init__(
        self,
        *,
        consumer: Any,
        publisher: GrafanaPublisher,
        topic_events: Mapping[str, str],
        producer: Any,
        dead_letter_topic: str,
        worker_id: str = "grafana-annotations",
        codec: Codec | None = None,
        retry_max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        unknown = set(topic_events.values()) - set(ANNOTATED_EVENTS)
        if unknown:
            raise SinkError(f"no annotations for {', '.join(sorted(unknown))} events")
        self._consumer = consumer
        self._batches = EventBatches(
            consumer=consumer,
            producer=producer,
            routes=topic_events,
            dead_letter_topic=dead_letter_topic,
            worker_id=worker_id,
            codec=codec,
            batch_messages=CONSUME_BATCH_MESSAGES,
            poll_timeout_s=POLL_TIMEOUT_S,
        )
        self._publisher = publisher
        self._retry_max_s = retry_max_s
        self._clock = clock
        self.posted = 0
        """Annotations this worker posted or found already posted."""

    def checks(self) -> Checks:
        """Health of the consuming loop (:meth:`schemas.consume.EventBatches.checks`)."""
        return self._batches.checks()

    def subscribe(self) -> None:
        """Join the consumer group on the annotated topics."""
        self._batches.subscribe()

    def run(self, stop: threading.Event) -> None:
        """Annotate until ``stop`` is set, then close the consumer."""
        self.subscribe()
        try:
            while not stop.is_set():
                self.step(stop)
        finally:
            self._consumer.close()

    def step(self, stop: threading.Event | None = None) -> int:
        """Annotate one poll of messages and commit it; returns the messages taken.

        Returns early without a commit when ``stop`` is set while Grafana is failing: the
        messages are read again later and their annotations are not doubled.
        """
        messages = self._batches.poll()
        offsets: dict[tuple[str, int], int] = {}
        for message in messages:
            decoded = self._batches.record(message)
            if decoded is not None:
                request = annotation_for(*decoded)
                if not self._post_until_done(request, stop):
                    return len(messages)
            offsets[message.topic(), message.partition()] = message.offset() + 1
        if offsets:
            self._commit(offsets)
        return len(messages)

    def _post_until_done(self, request: AnnotationRequest, stop: threading.Event | None) -> bool:
        """Post ``request``, backing off while Grafana fails; False if stopped meanwhile."""
        delay_s = RETRY_INITIAL_S
        paused: list[Any] = []
        try:
            while True:
                try:
                    self._publisher.post(request)
                    self.posted += 1
                    return True
                except SinkError as exc:
                    logger.warning("annotation %s not posted, retrying in %.1f s: %s",
                                   request.key, delay_s, exc)  # fmt: skip
                if not paused:
                    paused = list(self._consumer.assignment())
                    self._consumer.pause(paused)
                self._wait(delay_s)
                if stop is not None and stop.is_set():
                    return False
                delay_s = min(delay_s * 2, self._retry_max_s)
        finally:
            if paused:
                self._consumer.resume(paused)

    def _wait(self, seconds: float) -> None:
        """Wait while polling: paused partitions return nothing, the membership stays."""
        deadline = self._clock() + seconds
        while (left := deadline - self._clock()) > 0:
            self._batches.heartbeat.beat()  # waiting out Grafana is the loop turning
            message = self._consumer.poll(min(left, POLL_TIMEOUT_S))
            if message is not None and message.error() is None:
                # A partition assigned during the wait is not paused; seek back so its
                # message is read again after the retry instead of being skipped.
                from confluent_kafka import TopicPartition

                self._consumer.seek(
                    TopicPartition(message.topic(), message.partition(), message.offset())
                )

    def _commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        from confluent_kafka import KafkaException

        try:
            self._batches.commit(offsets)
        except KafkaException as exc:
            # Typically a rebalance took the partitions meanwhile: their next owner reads
            # the messages again and finds the annotations already posted.
            logger.warning("commit failed, the messages will be read again: %s", exc)
