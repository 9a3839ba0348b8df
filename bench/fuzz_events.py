"""Hostile but schema-valid events, generated from the Avro schemas (``schemas/avsc``).

Every message this module writes is well-formed single-object Avro under the current schema
of its topic's event: a worker cannot refuse it at the framing. What it carries is what an
insider with produce rights could send: claim-check URLs to ``/dev/zero``, FIFOs, an address
that never answers, ``file:///etc/passwd`` and ``..`` paths; negative, huge, NaN and infinite
numbers; huge image dimensions and declared sizes; empty and 10 kB strings; duplicate and
forged ids; boxes outside the image. Three generators, mixed per topic:

- targeted cases (the ones above, by topic), cycled;
- a valid template with one to three fields (nested too) replaced by hostile values of the
  field's Avro type;
- a record drawn entirely from the schema.

Records are written with fastavro directly, not through :class:`schemas.Codec`, whose encoder
refuses what its decoder would (an inline size that lies, a malformed SHA-256): those checks
are what the workers must survive. Everything is seeded, so a run can be replayed.
"""

from __future__ import annotations

import copy
import io
import math
import random
import struct
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastavro import schemaless_writer

from schemas.codec import MAGIC
from schemas.convert import to_record
from schemas.events import Event
from schemas.store import default_store

__all__ = [
    "HOSTILE_STRINGS",
    "RecordFuzzer",
    "bomb_png",
    "encode_raw",
]

#: A string field's hostile values: empty, 10 kB, paths out, URLs a reader must not follow.
HOSTILE_STRINGS: Final[tuple[str, ...]] = (
    "",
    "x" * 10_240,
    "..",
    ".",
    "/",
    "../../../../etc/passwd",
    "/dev/zero",
    "file:///etc/passwd",
    "file:///dev/zero",
    "http://10.255.255.1/frame.png",
    "s3://not-ours/frame.png",
    "%2e%2e/%2e%2e/x",
    "a\x00b",
    "\u202egnp.exe",
    "ü" * 300,
    "cp/1/../../x",
    " ",
)
#: Avro ``int`` edges: the column types of the store and Python's arithmetic meet here.
HOSTILE_INTS: Final[tuple[int, ...]] = (-(2**31), -1, 0, 1, 2**31 - 1, 65_535, 1 << 30)
#: Avro ``long`` edges.
HOSTILE_LONGS: Final[tuple[int, ...]] = (-(2**63), -1, 0, 2**53 + 1, 2**62, 2**63 - 1)
#: Doubles no score, box or latency should ever be.
HOSTILE_DOUBLES: Final[tuple[float, ...]] = (
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    1e308,
    -1e308,
    5e-324,
    -1.0,
    2.0,
    1e9,
)
#: ``timestamp-millis`` values: before 1970, year 10000 and beyond, the long's edges.
HOSTILE_TIMES_MS: Final[tuple[int, ...]] = (
    -1,
    0,
    -62_135_596_800_001,
    253_402_300_800_000,
    2**63 - 1,
    -(2**63),
)
#: ``uuid`` strings that are no uuid, or the nil one.
FORGED_UUIDS: Final[tuple[str, ...]] = ("", "not-a-uuid", str(uuid.UUID(int=0)), "x" * 10_240)
#: Most arrays stay short (cheap); now and then one is long (a worker must not choke on it).
LONG_ARRAY_ITEMS: Final = 300
#: Share of ``uuid`` values taken from the duplicate pool (ids other events already carry).
DUPLICATE_ID_SHARE: Final = 0.4


def encode_raw(name: str, record: Mapping[str, Any]) -> bytes:
    """Single-object Avro of ``record`` as event ``name`` (current schema), with no check
    beyond Avro's own types: how a hostile producer writes."""
    schema = default_store().current(name)
    body = io.BytesIO()
    body.write(MAGIC + schema.fingerprint)
    schemaless_writer(body, schema.parsed, dict(record))
    return body.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb's
    header: decoding it would allocate width * height * 3 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@dataclass
class RecordFuzzer:
    """Hostile values of any Avro type of one event's schema, seeded.

    ``duplicate_ids`` is the pool ``uuid`` fields draw duplicates from (event ids other
    events carry); the caller adds to it as it generates.
    """

    name: str
    rng: random.Random
    duplicate_ids: list[str]

    def __post_init__(self) -> None:
        self.schema: Mapping[str, Any] = default_store().current(self.name).schema
        self.names: dict[str, Mapping[str, Any]] = {}
        self._register(self.schema, self.schema.get("namespace", ""))

    # -- generators ---------------------------------------------------------------------

    def random_record(self) -> dict[str, Any]:
        """A record drawn entirely from the schema, every field hostile or random."""
        record: dict[str, Any] = self.value(self.schema)
        return record

    def mutate(self, template: Event | Mapping[str, Any], fields: int) -> dict[str, Any]:
        """``template``'s record with ``fields`` fields (top-level or nested) replaced by
        hostile values of their type."""
        record = copy.deepcopy(
            dict(template) if isinstance(template, Mapping) else to_record(template)
        )
        for _ in range(fields):
            self._mutate_in(record, self.schema)
        return record

    def value(self, avro: Any) -> Any:
        """A hostile (or, less often, plain random) value of Avro type ``avro``."""
        rng = self.rng
        if isinstance(avro, list):  # a union: one branch
            return self.value(rng.choice(avro))
        if isinstance(avro, str):
            if avro in self.names:
                return self.value(self.names[avro])
            return self._primitive(avro)
        kind = avro["type"]
        logical = avro.get("logicalType")
        if logical == "uuid":
            return self._uuid()
        if logical == "timestamp-millis":
            return rng.choice(HOSTILE_TIMES_MS)
        if kind == "record":
            return {f["name"]: self.value(f["type"]) for f in avro["fields"]}
        if kind == "enum":
            return rng.choice(avro["symbols"])
        if kind == "array":
            return [self.value(avro["items"]) for _ in range(self._length())]
        if kind == "map":
            return {rng.choice(HOSTILE_STRINGS): self.value(avro["values"]) for _ in range(3)}
        if kind == "fixed":
            return rng.randbytes(avro["size"])
        return self.value(kind)

    # -- internals ----------------------------------------------------------------------

    def _register(self, avro: Any, namespace: str) -> None:
        """Remember every named type, by short and full name (later uses refer by name)."""
        if isinstance(avro, list):
            for branch in avro:
                self._register(branch, namespace)
            return
        if not isinstance(avro, Mapping):
            return
        kind = avro.get("type")
        if kind in ("record", "enum", "fixed"):
            space = avro.get("namespace", namespace)
            self.names[avro["name"]] = avro
            self.names[f"{space}.{avro['name']}" if space else avro["name"]] = avro
            for field in avro.get("fields", ()):
                self._register(field["type"], space)
        elif kind == "array":
            self._register(avro["items"], namespace)
        elif kind == "map":
            self._register(avro["values"], namespace)

    def _resolve(self, avro: Any) -> Any:
        return self.names.get(avro, avro) if isinstance(avro, str) else avro

    def _mutate_in(self, record: dict[str, Any], schema: Mapping[str, Any]) -> None:
        field = self.rng.choice(schema["fields"])
        name, avro = field["name"], self._resolve(field["type"])
        current = record.get(name)
        descend = self.rng.random() < 0.5
        record_type = isinstance(avro, Mapping) and avro.get("type") == "record"
        if descend and record_type and isinstance(current, dict):
            self._mutate_in(current, avro)
            return
        if descend and isinstance(avro, Mapping) and avro.get("type") == "array" and current:
            items = self._resolve(avro["items"])
            if isinstance(items, Mapping) and items.get("type") == "record":
                self._mutate_in(self.rng.choice(current), items)
                return
        if isinstance(avro, list) and descend and isinstance(current, dict):
            branch = next(
                (
                    self._resolve(b)
                    for b in avro
                    if isinstance(self._resolve(b), Mapping)
                    and self._resolve(b).get("type") == "record"
                ),
                None,
            )
            if branch is not None:
                self._mutate_in(current, branch)
                return
        record[name] = self.value(avro)

    def _primitive(self, kind: str) -> Any:
        rng = self.rng
        makers: dict[str, Callable[[], Any]] = {
            "null": lambda: None,
            "boolean": lambda: rng.random() < 0.5,
            "int": lambda: rng.choice(HOSTILE_INTS),
            "long": lambda: rng.choice(HOSTILE_LONGS),
            "float": lambda: rng.choice(HOSTILE_DOUBLES),
            "double": lambda: rng.choice(HOSTILE_DOUBLES),
            "bytes": lambda: rng.choice((b"", rng.randbytes(64), b"\x00" * 10_240)),
            "string": lambda: rng.choice(HOSTILE_STRINGS),
        }
        return makers[kind]()

    def _uuid(self) -> str:
        if self.duplicate_ids and self.rng.random() < DUPLICATE_ID_SHARE:
            return self.rng.choice(self.duplicate_ids)
        if self.rng.random() < 0.5:
            return self.rng.choice(FORGED_UUIDS)
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _length(self) -> int:
        roll = self.rng.random()
        return LONG_ARRAY_ITEMS if roll < 0.03 else int(roll * 4)
