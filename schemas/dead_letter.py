"""Dead letters: any message a worker cannot decode or process is kept, not lost.

:func:`send_dead_letter` wraps the raw message and the exception into a ``DeadLetter`` event
with the source topic, partition, offset and key, the error's class, a readable reason and
the original bytes, encodes it and hands it to an injected producer. The producer is a
:class:`Protocol` so this package knows nothing of Kafka: a Faust topic's ``send``, a
confluent-kafka ``Producer.produce`` wrapper or a test list all fit. The source is anything
with ``topic``, ``partition``, ``offset`` and ``key`` — a Faust or confluent-kafka message
as it is, or a :class:`MessageSource`. The dead-letter topic's name belongs to infra and is
passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from schemas.codec import DEFAULT_MAX_MESSAGE_BYTES, Codec
from schemas.events import DeadLetter, now_ms
from schemas.exceptions import DecodeError

__all__ = [
    "DeadLetterProducer",
    "MessageSource",
    "SourceMessage",
    "dead_letter",
    "send_dead_letter",
]

#: Longest reason kept: enough for any codec message, bounded for a hostile exception text.
MAX_REASON_CHARS: Final[int] = 2000
#: Room left in a dead letter for everything but the original bytes (ids, reason, key).
_ENVELOPE_BYTES: Final[int] = 64 * 1024


class DeadLetterProducer(Protocol):
    """Sends one encoded message to ``topic``; may block or schedule, its caller decides."""

    def __call__(self, *, topic: str, key: bytes | None, value: bytes) -> object: ...


class SourceMessage(Protocol):
    """Where a failed message came from (a Faust ``Message`` has these attributes)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSource:
    """A :class:`SourceMessage` for callers that hold the coordinates, not a message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None


def _reason(error: BaseException) -> str:
    text = error.reason if isinstance(error, DecodeError) else str(error)
    text = text or type(error).__name__
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS] + "..."


def dead_letter(
    original: bytes,
    error: BaseException,
    *,
    source: SourceMessage,
    worker_id: str,
    max_original_bytes: int = DEFAULT_MAX_MESSAGE_BYTES - _ENVELOPE_BYTES,
) -> DeadLetter:
    """The ``DeadLetter`` event for a message from ``source`` that failed with ``error``.

    An original longer than ``max_original_bytes`` (an oversized message is itself a reason
    to dead-letter) is cut to that length, and the reason says so, because a dead letter
    that cannot be produced would lose the message's metadata too.
    """
    error_type = type(error)
    reason = _reason(error)
    if len(original) > max_original_bytes:
        reason += f" [original cut to its first {max_original_bytes} of {len(original)} bytes]"
        original = original[:max_original_bytes]
    key = source.key
    return DeadLetter(
        event_time=now_ms(),
        source_topic=source.topic,
        partition=source.partition,
        offset=source.offset,
        key=None if key is None else bytes(key),
        error_class=f"{error_type.__module__}.{error_type.__qualname__}",
        reason=reason,
        original=bytes(original),
        worker_id=worker_id,
    )


def send_dead_letter(
    produce: DeadLetterProducer,
    original: bytes,
    error: BaseException,
    *,
    source: SourceMessage,
    dead_letter_topic: str,
    worker_id: str,
    codec: Codec | None = None,
) -> DeadLetter:
    """Wrap a failed message into a ``DeadLetter`` and produce it to ``dead_letter_topic``.

    The dead letter keeps the original message key, so it lands in the same relative order
    as its source. Returns the event, e.g. for logging its ``event_id``.
    """
    codec = codec if codec is not None else Codec()
    letter = dead_letter(
        original,
        error,
        source=source,
        worker_id=worker_id,
        max_original_bytes=codec.max_message_bytes - _ENVELOPE_BYTES,
    )
    produce(topic=dead_letter_topic, key=letter.key, value=codec.encode(letter))
    return letter
