"""The Avro codec: single-object encoding of typed events, with schema resolution.

Every message is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer's
schema + the Avro binary body (Avro spec, "Single-object encoding"). A consumer finds the
writer schema in the :class:`~schemas.store.SchemaStore` by fingerprint and resolves it
against its own (current) schema, so events written by any released version stay readable.

fastavro is the hot path: it encodes and decodes several times faster than the ``avro``
library (``python -m bench.codec``; numbers in docs/events.md). Schemas are parsed once in
the store. Decoding is a trust boundary: anything wrong with a message, from random bytes to
an oversized inline image, raises :class:`~schemas.exceptions.DecodeError` with a readable
reason and never another exception, so a worker can dead-letter it and carry on.
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Final, TypeVar, cast

from fastavro import schemaless_reader, schemaless_writer

from schemas.convert import record_decoder, to_record
from schemas.events import EVENT_TYPES, Event
from schemas.exceptions import DecodeError, EncodeError, SchemaError
from schemas.store import SchemaStore, StoredSchema, default_store

__all__ = [
    "DEFAULT_MAX_INLINE_IMAGE_BYTES",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "HEADER_BYTES",
    "MAGIC",
    "Codec",
]

E = TypeVar("E", bound=Event)
T = TypeVar("T")

#: The single-object encoding marker (Avro spec).
MAGIC: Final[bytes] = b"\xc3\x01"
#: Marker plus the 8-byte fingerprint.
HEADER_BYTES: Final[int] = len(MAGIC) + 8
#: Inline PNGs above this go by claim check: 8 MiB holds a 16-bit dual-energy frame, and
#: larger messages strain broker and consumer memory.
DEFAULT_MAX_INLINE_IMAGE_BYTES: Final[int] = 8 * 1024 * 1024
#: The largest message accepted: an inline image at its limit plus 1 MiB for everything else.
DEFAULT_MAX_MESSAGE_BYTES: Final[int] = DEFAULT_MAX_INLINE_IMAGE_BYTES + 1024 * 1024
#: Longest error text copied into a reason: fastavro may quote whole schemas.
_MAX_DETAIL_CHARS: Final[int] = 300
#: A SHA-256 as the schemas spell it; a compiled pattern is the cheapest check per message.
_SHA256_HEX: Final[re.Pattern[str]] = re.compile(r"[0-9a-f]{64}")


def _detail(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_DETAIL_CHARS else text[:_MAX_DETAIL_CHARS] + "..."


@dataclass(frozen=True, slots=True)
class _Reading:
    """How to read a body written with one known schema, worked out once per fingerprint."""

    writer: StoredSchema
    reader: StoredSchema
    """The current schema of the same event: what every message is resolved to."""
    reader_parsed: Any
    """``reader.parsed``, or None when the writer is the current schema (no resolution)."""
    event_type: type[Event]
    build: Callable[[dict[str, Any]], Event]
    """``schemas.convert.record_decoder(event_type)``, looked up once."""


class _Body(list[bytes | bytearray]):
    """A write-only file that keeps what fastavro's writer hands it, uncopied: the writer
    fills its own ``bytearray`` and writes it once, so joining the header to it is the only
    copy of a 400 KB image (a ``BytesIO`` would copy it twice more). A list with ``write``,
    because building it is then a single C call on every message."""

    write = list.append


class Codec:
    """Encodes typed events to single-object Avro and decodes them back.

    Keyword-only options: ``store`` (default: the repository's schemas, loaded once),
    ``max_message_bytes`` (default :data:`DEFAULT_MAX_MESSAGE_BYTES`) and
    ``max_inline_image_bytes`` (default :data:`DEFAULT_MAX_INLINE_IMAGE_BYTES`), both
    enforced when encoding and decoding. A codec holds no mutable state and is thread-safe.
    """

    def __init__(
        self,
        *,
        store: SchemaStore | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_inline_image_bytes: int = DEFAULT_MAX_INLINE_IMAGE_BYTES,
    ) -> None:
        if max_message_bytes <= HEADER_BYTES or max_inline_image_bytes < 0:
            raise ValueError(
                f"max_message_bytes must exceed {HEADER_BYTES} and max_inline_image_bytes be >= 0"
            )
        self.store = store if store is not None else default_store()
        self.max_message_bytes = max_message_bytes
        self.max_inline_image_bytes = max_inline_image_bytes
        # One dict lookup by the message's header (marker + fingerprint) finds the writer,
        # the reader and the event type.
        self._readings = {
            MAGIC + fingerprint: _Reading(
                writer=writer,
                reader=reader,
                reader_parsed=None if writer is reader else reader.parsed,
                event_type=EVENT_TYPES[writer.name],
                build=record_decoder(EVENT_TYPES[writer.name]),
            )
            for fingerprint, writer, reader in self._known_writers()
        }

    def _known_writers(self) -> Iterator[tuple[bytes, StoredSchema, StoredSchema]]:
        current = {name: self.store.current(name) for name in self.store.event_names}
        for schema in (*current.values(), *self.store.released):
            writer = self.store.by_fingerprint(schema.fingerprint)
            if writer is not None and writer.name in current and writer.name in EVENT_TYPES:
                yield schema.fingerprint, writer, current[writer.name]

    # -- typed events -------------------------------------------------------------------

    def encode(self, event: Event) -> bytes:
        """The single-object encoding of ``event`` under its current schema."""
        name = type(event).__name__
        if EVENT_TYPES.get(name) is not type(event):
            raise EncodeError(f"{type(event).__qualname__} is not a leakguard event type")
        return self.encode_record(name, to_record(event))

    def decode(self, data: bytes, event_type: type[E]) -> E:
        """The event of type ``event_type`` in ``data``, resolved to its current schema.

        Raises :class:`DecodeError` when ``data`` is not a valid ``event_type`` message.
        """
        reading = self._reading(data)
        if reading.event_type is not event_type:
            raise _wrong_event(reading.writer, event_type.__name__)
        built = _build(reading.build, event_type, self._read(data, reading, start=HEADER_BYTES))
        return cast(E, built)

    def decode_any(self, data: bytes) -> Event:
        """The event in ``data``, whatever its type (e.g. on a dead-letter replay)."""
        reading = self._reading(data)
        record = self._read(data, reading, start=HEADER_BYTES)
        return _build(reading.build, reading.event_type, record)

    # -- plain records (dicts), the layer fastavro sees ---------------------------------

    def encode_record(
        self, name: str, record: Mapping[str, Any], *, header: bytes | None = None
    ) -> bytes:
        """Encode a plain Avro record (a dict as fastavro takes it) as event ``name``.

        ``header`` replaces the single-object header (the Confluent framing passes its own).
        """
        try:
            schema = self.store.current(name)
        except SchemaError as exc:
            raise EncodeError(str(exc)) from exc
        if name == "ScanFrame":
            _check_image(record, limit=self.max_inline_image_bytes, error=EncodeError)
        body = _Body((MAGIC + schema.fingerprint if header is None else header,))
        try:
            # fastavro's stub asks for IO; its writer only ever calls write().
            schemaless_writer(cast(IO[bytes], body), schema.parsed, record)
        except Exception as exc:  # fastavro raises ValueError, TypeError, AttributeError...
            raise EncodeError(f"cannot encode {name}: {_detail(exc)}") from exc
        data = b"".join(body)
        if len(data) > self.max_message_bytes:
            raise EncodeError(
                f"{name} message of {len(data)} bytes exceeds the "
                f"{self.max_message_bytes}-byte limit; send the image by claim check"
            )
        return data

    def decode_record(
        self, data: bytes, name: str, *, logical_types: bool = True
    ) -> dict[str, Any]:
        """Decode ``data`` as event ``name`` into a plain record under the current schema.

        With ``logical_types`` False, uuids stay strings and timestamps int epoch
        milliseconds, which is what a sink writes anyway: building and printing back a
        ``uuid.UUID`` costs more than a third of decoding a small event.
        """
        reading = self._reading(data)
        if reading.writer.name != name:
            raise _wrong_event(reading.writer, name)
        return self._read(data, reading, start=HEADER_BYTES, logical_types=logical_types)

    def read_body(
        self, data: bytes, *, start: int, writer: StoredSchema, name: str
    ) -> dict[str, Any]:
        """Decode the Avro body at ``data[start:]`` written with ``writer`` as event ``name``.

        The building block for other framings (see ``schemas.registry``); ``data`` is the
        whole message, checked against ``max_message_bytes``.
        """
        if len(data) > self.max_message_bytes:
            raise DecodeError(
                f"message of {len(data)} bytes exceeds the {self.max_message_bytes}-byte limit"
            )
        try:
            reader = self.store.current(name)
        except SchemaError as exc:
            raise DecodeError(str(exc)) from exc
        if writer.name != reader.name:
            raise _wrong_event(writer, name)
        reading = self._readings.get(MAGIC + writer.fingerprint)
        if reading is None or reading.writer is not writer:  # a schema only a registry knew
            event_type = EVENT_TYPES[reader.name]
            reading = _Reading(
                writer=writer,
                reader=reader,
                reader_parsed=reader.parsed,
                event_type=event_type,
                build=record_decoder(event_type),
            )
        return self._read(data, reading, start=start)

    def writer_schema(self, data: bytes) -> StoredSchema:
        """The schema ``data`` was written with, found by its fingerprint header."""
        return self._reading(data).writer

    @staticmethod
    def typed(event_type: type[E], record: dict[str, Any]) -> E:
        """Build the typed event from a record read by :meth:`read_body` or ``decode_record``.

        The record becomes the event's state (see ``schemas.convert.from_record``): pass a
        freshly decoded one and do not use it afterwards.
        """
        return _build(record_decoder(event_type), event_type, record)

    # -- internals ----------------------------------------------------------------------

    def _reading(self, data: bytes) -> _Reading:
        """Check the framing of ``data`` and find how to read its body, by fingerprint."""
        if type(data) is not bytes and not isinstance(data, bytearray | memoryview):
            raise DecodeError(f"message is {type(data).__name__}, not bytes")
        size = len(data)
        if size > self.max_message_bytes:
            raise DecodeError(
                f"message of {size} bytes exceeds the {self.max_message_bytes}-byte limit"
            )
        if size < HEADER_BYTES:
            raise DecodeError(
                f"message of {size} bytes is shorter than the {HEADER_BYTES}-byte "
                "single-object header"
            )
        header = data[:HEADER_BYTES]
        reading = self._readings.get(header if type(header) is bytes else bytes(header))
        if reading is None:
            if header[:2] != MAGIC:
                raise DecodeError(
                    f"message starts with {bytes(header[:2]).hex()}, not the Avro "
                    f"single-object marker {MAGIC.hex()}"
                )
            raise DecodeError(
                f"unknown writer schema fingerprint {bytes(header[2:]).hex()}: not a "
                f"current or released leakguard schema (released: "
                f"{', '.join(self.store.versions())})"
            )
        return reading

    def _read(
        self, data: bytes, reading: _Reading, *, start: int, logical_types: bool = True
    ) -> dict[str, Any]:
        # BytesIO shares an immutable bytes object instead of copying it.
        buffer = io.BytesIO(data)
        buffer.seek(start)
        writer = reading.writer
        if logical_types:
            writer_parsed, reader_parsed = writer.parsed, reading.reader_parsed
        else:
            writer_parsed = writer.parsed_plain
            reader_parsed = None if reading.reader_parsed is None else reading.reader.parsed_plain
        try:
            record = schemaless_reader(buffer, writer_parsed, reader_parsed)
        except Exception as exc:  # a trust boundary: any failure is a bad message
            raise DecodeError(
                f"malformed {writer.name} body ({writer.version} schema): {_detail(exc)}"
            ) from exc
        if type(record) is not dict:  # every event schema is a record
            raise DecodeError(f"{writer.name} body is not a record")
        if buffer.tell() != len(data):
            raise DecodeError(
                f"{len(data) - buffer.tell()} trailing bytes after the {writer.name} body: "
                "truncated, corrupt or written with another schema"
            )
        if writer.name == "ScanFrame":
            _check_image(record, limit=self.max_inline_image_bytes, error=DecodeError)
        if reading.reader_parsed is not None:
            # Resolution fills missing fields with the reader schema's own default objects;
            # copy them, since building the event takes the record over.
            record = copy.deepcopy(record)
        return record


def _build(build: Callable[[dict[str, Any]], T], event_type: type, record: dict[str, Any]) -> T:
    try:
        return build(record)
    except Exception as exc:  # the record came from outside
        raise DecodeError(f"cannot build {event_type.__name__}: {_detail(exc)}") from exc


def _wrong_event(writer: StoredSchema, expected: str) -> DecodeError:
    return DecodeError(
        f"message holds a {writer.name} event ({writer.version} schema), expected {expected}"
    )


def _check_image(record: Mapping[str, Any], *, limit: int, error: type[SchemaError]) -> None:
    """Enforce the ScanFrame image invariants the Avro types cannot express."""
    try:
        image = record["image"]
        inline, uri = image["inline"], image["uri"]
        size, sha256 = image["size_bytes"], image["sha256"]
    except (KeyError, TypeError) as exc:
        raise error(f"ScanFrame image is missing {exc}") from exc
    if (inline is None) == (uri is None):
        raise error("ScanFrame image needs exactly one of inline bytes and a claim-check uri")
    if inline is not None:
        if len(inline) > limit:
            raise error(
                f"ScanFrame inline image of {len(inline)} bytes exceeds the {limit}-byte "
                "inline limit; send it by claim check"
            )
        if len(inline) != size:
            raise error(f"ScanFrame image size_bytes {size} != {len(inline)} inline bytes")
    if not isinstance(sha256, str) or _SHA256_HEX.fullmatch(sha256) is None:
        raise error(f"ScanFrame image sha256 must be 64 lower-case hex digits, got {sha256!r:.80}")
