"""Optional Confluent wire format: magic byte ``0``, 4-byte big-endian schema-registry id,
Avro body.

Used only when a schema-registry URL is configured, for consumers outside leakguard that
speak the Confluent format (Kafka Connect, ksqlDB...). The registry client is
confluent-kafka's ``SchemaRegistryClient``, imported lazily so the default single-object path
needs no registry. Bodies are written and read by the same :class:`~schemas.codec.Codec`, so
size limits, invariants and errors are identical; a writer schema fetched from the registry
is matched to the store by fingerprint and parsed only when the store does not know it.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Final, TypeVar

from schemas.codec import Codec
from schemas.convert import to_record
from schemas.events import EVENT_TYPES, Event
from schemas.exceptions import DecodeError, EncodeError, SchemaError
from schemas.store import NAMESPACE, StoredSchema

__all__ = ["CONFLUENT_HEADER_BYTES", "CONFLUENT_MAGIC", "ConfluentCodec"]

E = TypeVar("E", bound=Event)

CONFLUENT_MAGIC: Final[bytes] = b"\x00"
#: Magic byte plus the 4-byte schema id.
CONFLUENT_HEADER_BYTES: Final[int] = 5
_SCHEMA_ID: Final[struct.Struct] = struct.Struct(">I")


class ConfluentCodec:
    """Encodes and decodes events in the Confluent wire format against a schema registry.

    Keyword-only options: ``url`` of the registry (``mock://...`` gives confluent-kafka's
    in-process mock), or an injected ``client`` (anything with ``register_schema`` and
    ``get_schema``); ``codec`` for limits and the store (default :class:`Codec`). Subjects
    follow the record-name strategy (``leakguard.v1.Detection``) because one topic carries
    one event type and the name is what identifies it.
    """

    def __init__(
        self, *, url: str | None = None, client: Any | None = None, codec: Codec | None = None
    ) -> None:
        if client is None:
            if not url:
                raise ValueError("ConfluentCodec needs a schema-registry url or a client")
            client = _new_client(url)
        self._client = client
        self._codec = codec if codec is not None else Codec()
        # Registry ids are immutable, so these caches never need invalidating.
        self._ids: dict[str, int] = {}
        self._writers: dict[int, StoredSchema] = {}

    def encode(self, event: Event) -> bytes:
        """``event`` in the Confluent wire format, registering its schema on first use."""
        name = type(event).__name__
        header = CONFLUENT_MAGIC + _SCHEMA_ID.pack(self._schema_id(name))
        return self._codec.encode_record(name, to_record(event), header=header)

    def decode(self, data: bytes, event_type: type[E]) -> E:
        """The ``event_type`` event in Confluent-framed ``data``; :class:`DecodeError` if not."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError(f"message is {type(data).__name__}, not bytes")
        if len(data) < CONFLUENT_HEADER_BYTES or data[:1] != CONFLUENT_MAGIC:
            raise DecodeError("message lacks the Confluent wire-format header (magic byte 0)")
        (schema_id,) = _SCHEMA_ID.unpack_from(data, 1)
        writer = self._writer(schema_id)
        record = self._codec.read_body(
            data, start=CONFLUENT_HEADER_BYTES, writer=writer, name=event_type.__name__
        )
        return self._codec.typed(event_type, record)

    def _schema_id(self, name: str) -> int:
        if name not in self._ids:
            if name not in EVENT_TYPES:
                raise EncodeError(f"{name} is not a leakguard event type")
            from confluent_kafka.schema_registry import Schema

            stored = self._codec.store.current(name)
            schema = Schema(json.dumps(stored.schema), schema_type="AVRO")
            try:
                self._ids[name] = int(self._client.register_schema(f"{NAMESPACE}.{name}", schema))
            except Exception as exc:  # the client raises its own and network errors
                raise EncodeError(f"cannot register {name} in the schema registry: {exc}") from exc
        return self._ids[name]

    def _writer(self, schema_id: int) -> StoredSchema:
        if schema_id not in self._writers:
            try:
                schema = json.loads(self._client.get_schema(schema_id).schema_str)
                fetched = StoredSchema.build(schema, version=f"registry:{schema_id}")
            except (SchemaError, ValueError) as exc:
                raise DecodeError(f"registry schema {schema_id} is unusable: {exc}") from exc
            except Exception as exc:  # not found, network: the client's own errors
                raise DecodeError(
                    f"cannot fetch schema {schema_id} from the registry: {exc}"
                ) from exc
            known = self._codec.store.by_fingerprint(fetched.fingerprint)
            self._writers[schema_id] = known if known is not None else fetched
        return self._writers[schema_id]


def _new_client(url: str) -> Any:
    try:
        from confluent_kafka.schema_registry import SchemaRegistryClient
    except ImportError as exc:  # pragma: no cover - confluent-kafka is a declared dependency
        raise ImportError(
            "the Confluent wire format needs confluent-kafka: pip install 'confluent-kafka'"
        ) from exc
    return SchemaRegistryClient.new_client({"url": url})
