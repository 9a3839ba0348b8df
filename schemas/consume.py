"""The consuming side of the event contract: take a batch, decode it, dead-letter what fails,
commit only after the work.

Every worker outside Faust (the analytics sink, alert delivery, the Grafana annotator, the
annotation bridge, the retrain consumer, the edge's rollout loop) reads Kafka with a
confluent-kafka ``Consumer`` the same way, and the rules must not differ between them:

* a message whose consumer error is fatal stops the worker; any other error is librdkafka's
  to retry and is skipped with a warning;
* a message that is not the event its topic carries (a tombstone, bytes of another schema,
  an event the worker cannot act on) goes to the dead-letter topic with its original bytes,
  and the batch goes on;
* offsets are committed only once the work of the batch is done and its dead letters are
  delivered, so a crash re-reads work rather than losing it.

:class:`EventBatches` holds those rules; each worker keeps only what is its own (batching
into tables, retries against an unavailable service). The consumer and producer are passed
in, so this package needs confluent-kafka's interface but not the library itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from leakguard.health import CheckResult, Checks, Heartbeat
from leakguard.logs import about
from schemas.codec import Codec
from schemas.dead_letter import MessageSource, send_dead_letter
from schemas.events import EVENT_TYPES, Event
from schemas.exceptions import DecodeError, SchemaError

__all__ = [
    "ConsumerFailedError",
    "DeadLettersUndeliveredError",
    "EventBatches",
    "reader_config",
    "worker_config",
]

logger = logging.getLogger(__name__)

#: Time the producer gets to deliver dead letters before a commit is held back.
DEAD_LETTER_FLUSH_TIMEOUT_S: Final = 10.0
#: librdkafka's 45 s default makes a restarted worker wait long to rejoin its group; 10 s is
#: enough for loops whose polls never block longer than a back-off step.
SESSION_TIMEOUT_MS: Final = 10_000
#: A loop that has not polled for this long is stuck: the longest back-off of any worker
#: (Grafana's, 30 s) polls far more often, and librdkafka drops a member after 300 s.
LOOP_STALL_S: Final = 120.0


def worker_config(
    client: Mapping[str, Any], *, group_id: str, client_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Consumer settings of a group member that commits only after its work (what
    :class:`EventBatches` expects): no auto-commit, a new group starts at the earliest
    offset so nothing produced before its first start is skipped, a short session.

    ``client`` holds ``bootstrap.servers`` and the cluster's security settings; ``extra``
    adds or overrides librdkafka properties.
    """
    named = {} if client_id is None else {"client.id": client_id}
    return {
        **client,
        **named,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        **extra,
    }


def reader_config(client: Mapping[str, Any], *, name: str, **extra: Any) -> dict[str, Any]:
    """Consumer settings of a reader that ``assign()``s its partitions: librdkafka wants a
    group id (``name``) although the reader joins no group and commits nothing."""
    return {**client, "group.id": name, "enable.auto.commit": False, **extra}


class ConsumerFailedError(SchemaError):
    """The Kafka consumer reported a fatal error: the worker cannot go on with it."""


class DeadLettersUndeliveredError(SchemaError):
    """Dead letters of a batch were not delivered in time, so its offsets stay uncommitted."""


class EventBatches:
    """Batches of decoded events from ``consumer``; see the module docstring.

    ``routes`` maps each topic read to the event it carries (a schema record name, as
    :meth:`schemas.topics.Topics.routes` gives it). ``consumer`` must have
    ``enable.auto.commit`` off; ``producer`` sends the dead letters.
    """

    def __init__(
        self,
        *,
        consumer: Any,
        producer: Any,
        routes: Mapping[str, str],
        dead_letter_topic: str,
        worker_id: str,
        codec: Codec | None = None,
        batch_messages: int = 500,
        poll_timeout_s: float = 0.5,
    ) -> None:
        self.consumer = consumer
        self._producer = producer
        self._routes = dict(routes)
        self._dead_letter_topic = dead_letter_topic
        self._worker_id = worker_id
        self._codec = codec if codec is not None else Codec()
        self._batch_messages = batch_messages
        self._poll_timeout_s = poll_timeout_s
        self.dead_letters = 0
        """Messages this worker sent to the dead-letter topic."""
        self.heartbeat = Heartbeat(what="poll loop", max_silence_s=LOOP_STALL_S)
        """Liveness of the worker's loop: beaten by every :meth:`poll`."""
        self._assigned: int | None = None

    @property
    def topics(self) -> list[str]:
        """The topics read, in the order ``routes`` gave them."""
        return list(self._routes)

    def subscribe(self, *, on_assign: Any = None, on_revoke: Any = None, **callbacks: Any) -> None:
        """Join the consumer group on every routed topic (``on_assign``, ``on_revoke`` and
        the like pass through); the assignment is tracked for :meth:`checks`."""

        def assigned(consumer: Any, partitions: list[Any]) -> None:
            self._assigned = len(partitions)
            if on_assign is not None:
                on_assign(consumer, partitions)

        def revoked(consumer: Any, partitions: list[Any]) -> None:
            self._assigned = None
            if on_revoke is not None:
                on_revoke(consumer, partitions)

        self.consumer.subscribe(self.topics, on_assign=assigned, on_revoke=revoked, **callbacks)

    def checks(self) -> Checks:
        """Health of the consuming loop: ``loop`` (it polls) is liveness, ``assignment``
        (the group gave this member its partitions, none included when the group has more
        members than partitions) is readiness."""

        def assignment() -> CheckResult:
            if self._assigned is None:
                return CheckResult(False, "no partitions assigned yet (joining the group)")
            return CheckResult(True, f"{self._assigned} partitions assigned")

        return Checks(live={"loop": self.heartbeat}, ready={"assignment": assignment})

    def poll(self) -> list[Any]:
        """The next batch's messages that carry data (at most ``batch_messages``).

        Raises :class:`ConsumerFailedError` on a fatal consumer error.
        """
        self.heartbeat.beat()
        messages = self.consumer.consume(self._batch_messages, self._poll_timeout_s)
        return [message for message in messages if self.usable(message)]

    def usable(self, message: Any) -> bool:
        """Whether ``message`` carries data; a fatal consumer error raises."""
        error = message.error()
        if error is None:
            return True
        if error.fatal():
            raise ConsumerFailedError(f"Kafka consumer failed: {error}")
        logger.warning("consumer error (librdkafka retries): %s", error)
        return False

    def event(self, message: Any) -> Event | None:
        """The typed event ``message`` carries, or None once it is dead-lettered."""
        try:
            return self._codec.decode(self._value(message), EVENT_TYPES[self._route(message)])
        except DecodeError as exc:
            self.dead_letter(message, exc)
            return None

    def record(self, message: Any, *, logical_types: bool = True) -> tuple[str, Any] | None:
        """``(event name, record)`` of ``message`` as plain Avro data (cheaper than a typed
        event where only some fields are read), or None once it is dead-lettered."""
        try:
            name = self._route(message)
            value = self._value(message)
            return name, self._codec.decode_record(value, name, logical_types=logical_types)
        except DecodeError as exc:
            self.dead_letter(message, exc)
            return None

    def dead_letter(self, message: Any, error: BaseException) -> None:
        """Send ``message`` to the dead-letter topic because of ``error``; delivered by the
        next :meth:`commit` at the latest."""
        source = MessageSource(
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            key=message.key(),
        )
        reason = error.reason if isinstance(error, DecodeError) else str(error)
        logger.warning(
            "dead-lettering %s[%d]@%d: %s",
            source.topic,
            source.partition,
            source.offset,
            reason,
            extra=about(topic=source.topic, partition=source.partition, offset=source.offset),
        )
        send_dead_letter(
            self._produce,
            message.value() or b"",
            error,
            source=source,
            dead_letter_topic=self._dead_letter_topic,
            worker_id=self._worker_id,
            codec=self._codec,
        )
        self.dead_letters += 1

    def deliver(self) -> None:
        """Wait until the producer has delivered what it holds, dead letters included;
        raises :class:`DeadLettersUndeliveredError` when it cannot in time."""
        if self._producer.flush(DEAD_LETTER_FLUSH_TIMEOUT_S) > 0:
            raise DeadLettersUndeliveredError(
                "dead letters were not delivered; the batch is not committed"
            )

    def commit(self, offsets: Mapping[tuple[str, int], int] | None = None) -> None:
        """Deliver the dead letters, then commit synchronously: ``offsets`` (topic, partition
        -> next offset to read) when given, else everything consumed so far.

        Raises :class:`DeadLettersUndeliveredError` when dead letters are still pending.
        """
        self.deliver()
        if offsets is None:
            self.consumer.commit(asynchronous=False)
            return
        if offsets:
            from confluent_kafka import TopicPartition

            self.consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=False,
            )

    def _route(self, message: Any) -> str:
        try:
            return self._routes[message.topic()]
        except KeyError:
            raise DecodeError(f"no event is routed from topic {message.topic()!r}") from None

    @staticmethod
    def _value(message: Any) -> bytes:
        value = message.value()
        if value is None:
            raise DecodeError("message has no value (tombstone)")
        return bytes(value)

    def _produce(self, *, topic: str, key: bytes | None, value: bytes) -> None:
        self._producer.produce(topic, value=value, key=key)
