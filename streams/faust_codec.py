"""Faust glue for the event contract: agents receive typed events, and bad bytes never
crash them.

``schemas`` must not import Faust (ARCHITECTURE), so the adapter lives here. Use one
:class:`AvroEventCodec` per topic, for the event type the topic carries::

    detections = app.topic("detections", value_type=None,
                           value_serializer=AvroEventCodec(event_type=Detection))

    @app.agent(detections)
    async def outcomes(stream):
        async for event in stream.events():
            if isinstance(event.value, Undecodable):
                letter = dead_letter_for(event.message, event.value, worker_id=WORKER_ID)
                await dead_letters.send(key=letter.key, value=letter)
                continue
            ...  # event.value is a Detection

Faust turns an exception raised while decoding into a ``ValueDecodeError`` that it throws
into the stream, which ends the agent's loop. So :meth:`AvroEventCodec._loads` never raises
for bad input: it returns an :class:`Undecodable` that carries the original bytes and the
:class:`~schemas.exceptions.DecodeError`, and the agent routes it to the dead-letter topic
with the message's topic, partition and offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faust.serializers import codecs

from schemas.codec import Codec
from schemas.dead_letter import SourceMessage, dead_letter
from schemas.events import DeadLetter, Event
from schemas.exceptions import DecodeError, EncodeError, SchemaError

__all__ = [
    "CODEC_NAME",
    "AvroEventCodec",
    "Undecodable",
    "dead_letter_for",
    "register_codec",
]

#: Name under which :func:`register_codec` registers the any-event codec.
CODEC_NAME = "leakguard-avro"


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A message value the codec could not decode, in place of the event it should hold."""

    original: bytes
    error: DecodeError


class AvroEventCodec(codecs.Codec):
    """Faust codec: typed events to Avro single-object bytes and back.

    Keyword-only options: ``event_type``, the event the topic carries (decoding another type
    yields :class:`Undecodable`), or None to accept any leakguard event; ``codec``, the
    :class:`~schemas.codec.Codec` with its store and size limits (default: ``Codec()``).
    """

    def __init__(
        self,
        children: tuple[Any, ...] | None = None,
        *,
        event_type: type[Event] | None = None,
        codec: Codec | None = None,
    ) -> None:
        codec = codec if codec is not None else Codec()
        # Faust's clone() rebuilds a codec from children and kwargs: keep both.
        super().__init__(children, event_type=event_type, codec=codec)
        self._event_type = event_type
        self._codec = codec

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, Undecodable):  # forwarding a bad value keeps its bytes
            return obj.original
        if self._event_type is not None and not isinstance(obj, self._event_type):
            raise EncodeError(
                f"this topic carries {self._event_type.__name__}, not {type(obj).__name__}"
            )
        return self._codec.encode(obj)

    def _loads(self, s: bytes) -> Event | Undecodable:
        try:
            if self._event_type is None:
                return self._codec.decode_any(s)
            return self._codec.decode(s, self._event_type)
        except SchemaError as exc:
            error = exc if isinstance(exc, DecodeError) else DecodeError(str(exc))
            raw = bytes(s) if isinstance(s, bytes | bytearray | memoryview) else b""
            return Undecodable(original=raw, error=error)


def dead_letter_for(message: SourceMessage, value: Undecodable, *, worker_id: str) -> DeadLetter:
    """The ``DeadLetter`` for a message whose value could not be decoded.

    ``message`` is the Faust ``event.message`` (topic, partition, offset, key).
    """
    return dead_letter(value.original, value.error, source=message, worker_id=worker_id)


def register_codec(*, name: str = CODEC_NAME, codec: Codec | None = None) -> AvroEventCodec:
    """Register the any-event codec under ``name``, so topics can say ``value_serializer=name``.

    Explicit, not an import side effect: a worker decides its codec registry at start-up.
    """
    any_event = AvroEventCodec(codec=codec)
    codecs.register(name, any_event)
    return any_event
