"""Dead-lettering a confluent-kafka message, shared by every sink worker.

A confluent-kafka ``Message`` exposes its coordinates as methods, not the attributes
``schemas.send_dead_letter`` reads, so this wraps it in a ``MessageSource`` and adapts the
producer's positional ``produce`` to the keyword protocol.
"""

from __future__ import annotations

import logging
from typing import Any

from schemas import Codec, DeadLetter, DecodeError, MessageSource, send_dead_letter

__all__ = ["dead_letter_message"]

logger = logging.getLogger(__name__)


def dead_letter_message(
    producer: Any,
    message: Any,
    error: DecodeError,
    *,
    dead_letter_topic: str,
    worker_id: str,
    codec: Codec,
) -> DeadLetter:
    """Send ``message`` (undecodable, ``error`` says why) to ``dead_letter_topic``.

    The caller flushes ``producer`` before committing the message's offset.
    """
    source = MessageSource(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        key=message.key(),
    )
    logger.warning(
        "dead-lettering %s[%d]@%d: %s", source.topic, source.partition, source.offset, error.reason
    )

    def produce(*, topic: str, key: bytes | None, value: bytes) -> None:
        producer.produce(topic, value=value, key=key)

    return send_dead_letter(
        produce,
        message.value() or b"",
        error,
        source=source,
        dead_letter_topic=dead_letter_topic,
        worker_id=worker_id,
        codec=codec,
    )
