"""Hypothesis strategies for every event, derived from the ``.avsc`` files themselves,
offered to the tests through the session fixture ``avro_strategies`` (tests are imported
with ``--import-mode=importlib``, so they cannot import a helper module).

Deriving from the schema (not the Python types) means a new field is covered the day it is
added; the round trip then also checks the typed classes agree with the schema.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import strategies as st

from schemas.convert import from_record
from schemas.events import EVENT_TYPES, Event
from schemas.store import default_store

_INT32 = 2**31
_INT64 = 2**63

#: Timestamps whole milliseconds, UTC, from the epoch to year 9999.
timestamps_ms = st.integers(min_value=0, max_value=253_402_300_799_999).map(
    lambda ms: datetime.fromtimestamp(ms / 1000, tz=UTC).replace(microsecond=(ms % 1000) * 1000)
)

_PRIMITIVES: Mapping[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(min_value=-_INT32, max_value=_INT32 - 1),
    "long": st.integers(min_value=-_INT64, max_value=_INT64 - 1),
    "float": st.floats(width=32, allow_nan=False),
    "double": st.floats(allow_nan=False),
    "bytes": st.binary(max_size=64),
    "string": st.text(max_size=16),
}


def _image_payloads() -> st.SearchStrategy[dict[str, Any]]:
    """ImagePayload obeys invariants Avro cannot state: one of inline/uri, true size."""

    def build(png: bytes, inline: bool, uri: str, width: int, height: int) -> dict[str, Any]:
        return {
            "encoding": "png",
            "width": width,
            "height": height,
            "size_bytes": len(png),
            "sha256": hashlib.sha256(png).hexdigest(),
            "inline": png if inline else None,
            "uri": None if inline else f"s3://frames/{uri}",
        }

    size = st.integers(min_value=0, max_value=10_000)
    return st.builds(build, st.binary(max_size=256), st.booleans(), st.text(max_size=8), size, size)


def from_avro(node: Any, named: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A strategy for values of the Avro type ``node`` as fastavro reads them."""
    if isinstance(node, str):
        return _PRIMITIVES[node] if node in _PRIMITIVES else st.deferred(lambda: named[node])
    if isinstance(node, list):
        return st.one_of([from_avro(branch, named) for branch in node])
    kind, logical = node["type"], node.get("logicalType")
    if logical == "uuid":
        return st.uuids()
    if logical == "timestamp-millis":
        return timestamps_ms
    if kind == "enum":
        strategy: st.SearchStrategy[Any] = st.sampled_from(node["symbols"])
    elif kind == "record":
        if node["name"] == "ImagePayload":
            strategy = _image_payloads()
        else:
            fields = {f["name"]: from_avro(f["type"], named) for f in node["fields"]}
            strategy = st.fixed_dictionaries(fields)
    elif kind == "array":
        return st.lists(from_avro(node["items"], named), max_size=4)
    elif kind == "map":
        return st.dictionaries(st.text(max_size=8), from_avro(node["values"], named), max_size=3)
    else:
        return from_avro(kind, named)
    named[node["name"]] = strategy
    return strategy


def records(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Plain records of event ``name`` under its current schema."""
    return from_avro(dict(default_store().current(name).schema), {})


def events(name: str) -> st.SearchStrategy[Event]:
    """Typed events of event ``name``."""
    event_type = EVENT_TYPES[name]
    return records(name).map(lambda record: from_record(event_type, record))


class AvroStrategies:
    """What the ``avro_strategies`` fixture hands out."""

    records = staticmethod(records)
    events = staticmethod(events)
    timestamps_ms = timestamps_ms


@pytest.fixture(scope="session")
def avro_strategies() -> type[AvroStrategies]:
    return AvroStrategies
