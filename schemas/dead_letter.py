"""Dead letters: any message a worker cannot decode or process is kept, not lost.

:func:`dead_letter` wraps the raw message and the exception into a ``DeadLetter`` event with
the source topic, partition, offset, the error's class, a readable reason and the original
bytes; :func:`send_dead_letter` also encodes it and hands it to an injected producer. The
producer is a :class:`Protocol` so this package knows nothing of Kafka: a Faust topic's
``send``, a confluent-kafka ``Producer.produce`` wrapper or a test list all fit. The
dead-letter topic's name belongs to infra and is passed in.
"""

from __future__ import annotations

from typing import Final, Protocol

from schemas.codec import DEFAULT_MAX_MESSAGE_BYTES, Codec
from schemas.events import DeadLetter, now_ms
from schemas.exceptions import DecodeError

__all__ = ["DeadLetterProducer", "dead_letter", "send_dead_letter"]

#: Longest reason kept: enough for any codec message, bounded for a hostile exception text.
MAX_REASON_CHARS: Final[int] = 2000
#: Room left in a dead letter for everything but the original bytes (ids, reason, key).
_ENVELOPE_BYTES: Final[int] = 64 * 1024


class DeadLetterProducer(Protocol):
    """Sends one encoded message to ``topic``; may block or schedule, its caller decides."""

    def __call__(self, *, topic: str, key: bytes | None, value: bytes) -> object: ...


def _reason(error: BaseException) -> str:
    text = error.reason if isinstance(error, DecodeError) else str(error)
    text = text or type(error).__name__
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS] + "..."


def dead_letter(
    *,
    original: bytes,
    error: BaseException,
    source_topic: str,
    partition: int,
    offset: int,
    worker_id: str,
    key: bytes | None = None,
    max_original_bytes: int = DEFAULT_MAX_MESSAGE_BYTES - _ENVELOPE_BYTES,
) -> DeadLetter:
    """The ``DeadLetter`` event for a message that failed with ``error``.

    An original longer than ``max_original_bytes`` (an oversized message is itself a reason
    to dead-letter) is cut to that length, and the reason says so, because a dead letter
    that cannot be produced would lose the message's metadata too.
    """
    error_type = type(error)
    reason = _reason(error)
    if len(original) > max_original_bytes:
        reason += f" [original cut to its first {max_original_bytes} of {len(original)} bytes]"
        original = original[:max_original_bytes]
    return DeadLetter(
        event_time=now_ms(),
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        key=None if key is None else bytes(key),
        error_class=f"{error_type.__module__}.{error_type.__qualname__}",
        reason=reason,
        original=bytes(original),
        worker_id=worker_id,
    )


def send_dead_letter(
    produce: DeadLetterProducer,
    *,
    dead_letter_topic: str,
    original: bytes,
    error: BaseException,
    source_topic: str,
    partition: int,
    offset: int,
    worker_id: str,
    key: bytes | None = None,
    codec: Codec | None = None,
) -> DeadLetter:
    """Build the ``DeadLetter`` for a failed message and produce it to ``dead_letter_topic``.

    The dead letter keeps the original message key, so it lands in the same relative order
    as its source. Returns the event, e.g. for logging its ``event_id``.
    """
    codec = codec if codec is not None else Codec()
    letter = dead_letter(
        original=original,
        error=error,
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        worker_id=worker_id,
        key=key,
        max_original_bytes=codec.max_message_bytes - _ENVELOPE_BYTES,
    )
    produce(topic=dead_letter_topic, key=letter.key, value=codec.encode(letter))
    return letter
