"""Schema evolution rules: every current schema and every released version must understand
each other's data.

Producers and consumers of a topic upgrade independently, so both directions matter:
*backward* (the current schema reads data written by every release: a new consumer reads old
data and old topics) and *forward* (every release reads data written by the current schema:
an old consumer keeps working while producers upgrade). Together that is Avro "full
transitive" compatibility. Adding a field with a default passes; removing or adding a field
without a default fails one direction.

The check is the ``avro`` library's ``ReaderWriterCompatibilityChecker`` (the port of Java
Avro's ``SchemaCompatibility``), not a home-made rule set, so "compatible" means what every
Avro implementation means by it. A test runs :func:`check_compatible` over the repository,
which makes a breaking change fail CI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from schemas.exceptions import IncompatibleSchemaError
from schemas.store import SchemaStore, default_store

__all__ = [
    "CompatibilityMode",
    "Incompatibility",
    "check_compatible",
    "find_incompatibilities",
    "reader_problems",
]

#: ``backward``: current reads releases; ``forward``: releases read current; ``full``: both.
CompatibilityMode: TypeAlias = Literal["backward", "forward", "full"]


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """Why ``reader`` cannot read data written with ``writer`` (each 'Name (version)')."""

    reader: str
    writer: str
    messages: tuple[str, ...]
    locations: tuple[str, ...]

    def __str__(self) -> str:
        where = ", ".join(self.locations) or "/"
        details = "; ".join(self.messages)
        return f"{self.reader} cannot read {self.writer} data at {where}: {details}"


def reader_problems(
    reader: Mapping[str, Any], writer: Mapping[str, Any]
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """None when ``reader`` reads everything ``writer`` writes, else (messages, locations)."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer))
    )
    if result.compatibility is SchemaCompatibilityType.compatible:
        return None
    kinds = sorted({kind.value for kind in result.incompatibilities})
    summary = f"{', '.join(kinds)}: {', '.join(sorted(result.messages))}"
    return (summary,), tuple(sorted(result.locations))


def find_incompatibilities(
    store: SchemaStore | None = None, *, mode: CompatibilityMode = "full"
) -> list[Incompatibility]:
    """Every break between a current schema and a release of the same event."""
    store = store if store is not None else default_store()
    found = []
    for released in store.released:
        current = store.current(released.name)
        pairs = []
        if mode in ("backward", "full"):
            pairs.append((current, released))
        if mode in ("forward", "full"):
            pairs.append((released, current))
        for reader, writer in pairs:
            problems = reader_problems(reader.schema, writer.schema)
            if problems is not None:
                found.append(
                    Incompatibility(
                        reader=f"{reader.name} ({reader.version})",
                        writer=f"{writer.name} ({writer.version})",
                        messages=problems[0],
                        locations=problems[1],
                    )
                )
    return found


def check_compatible(store: SchemaStore | None = None, *, mode: CompatibilityMode = "full") -> None:
    """Raise :class:`IncompatibleSchemaError` naming every break, else return quietly."""
    problems = find_incompatibilities(store, mode=mode)
    if problems:
        raise IncompatibleSchemaError("; ".join(str(problem) for problem in problems))
