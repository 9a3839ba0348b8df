"""The schema store: every ``.avsc`` of the repository, current and released, by name and by
fingerprint.

A consumer reading an Avro single-object message finds the writer's schema here by the
message's CRC-64-AVRO fingerprint, so data written by any released version stays readable.
Current schemas live in ``schemas/avsc/`` and may refer to the shared named types
defined there (``Box``, ``ObjectClass``...) by name; the store inlines those definitions so
every event schema is standalone. Released versions live in ``schemas/history/<version>/``
already standalone and frozen: a later edit of a shared type cannot rewrite history.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.exceptions import SchemaNotFoundError, SchemaStoreError

__all__ = [
    "AVSC_DIR",
    "EVENT_NAMES",
    "HISTORY_DIR",
    "NAMESPACE",
    "SchemaStore",
    "StoredSchema",
    "default_store",
    "expand_schema",
    "load_definitions",
    "write_release",
]

#: The Avro namespace of every named type. It stays ``leakguard.v1`` while changes are
#: backward compatible: Avro resolution matches records by full name.
NAMESPACE: Final[str] = "leakguard.v1"

#: The events, i.e. the top-level schemas a message may carry. Other ``.avsc`` files in
#: ``AVSC_DIR`` define shared named types.
EVENT_NAMES: Final[tuple[str, ...]] = (
    "ScanFrame",
    "Detection",
    "GuardVerdict",
    "Outcome",
    "Alert",
    "AnnotationTask",
    "Annotation",
    "ModelUpdate",
    "ModelStatus",
    "DeadLetter",
    "TipResult",
)

AVSC_DIR: Final[Path] = Path(__file__).parent / "avsc"
HISTORY_DIR: Final[Path] = Path(__file__).parent / "history"

#: The label of the schemas in ``AVSC_DIR``, as opposed to a released version's directory name.
CURRENT: Final[str] = "current"

_PRIMITIVES: Final[frozenset[str]] = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
_NAMED_KINDS: Final[frozenset[str]] = frozenset({"record", "error", "enum", "fixed"})


@dataclass(frozen=True, slots=True)
class StoredSchema:
    """One event schema of one version, parsed once for the codec's hot path."""

    name: str
    """Short name, e.g. ``Detection``."""
    version: str
    """``current`` or the released version's directory name, e.g. ``v1``."""
    schema: Mapping[str, Any]
    """The standalone JSON schema (named types inlined), as the ``.avsc`` spells it."""
    parsed: Any
    """``fastavro.parse_schema`` of ``schema``: parsed once, reused for every message."""
    parsed_plain: Any
    """The same without logical types: uuids read as str, timestamps as int milliseconds."""
    canonical: str
    """Avro Parsing Canonical Form, what the fingerprint is taken of."""
    fingerprint: bytes
    """CRC-64-AVRO of ``canonical``, 8 bytes little-endian, as single-object encoding writes it."""

    @classmethod
    def build(cls, schema: Mapping[str, Any], *, version: str) -> StoredSchema:
        """Parse ``schema`` and compute its fingerprint; malformed schemas raise at load time."""
        try:
            parsed = parse_schema(dict(schema))
            parsed_plain = parse_schema(_without_logical_types(schema))
            canonical = to_parsing_canonical_form(dict(schema))
        except Exception as exc:  # fastavro raises several unrelated types for bad schemas
            name = schema.get("name")
            raise SchemaStoreError(f"invalid schema {name!r} ({version}): {exc}") from exc
        return cls(
            name=str(schema["name"]),
            version=version,
            schema=schema,
            parsed=parsed,
            parsed_plain=parsed_plain,
            canonical=canonical,
            fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        )


def _without_logical_types(schema: Any) -> Any:
    """``schema`` with every ``logicalType`` annotation dropped (the encoding is the same)."""
    if isinstance(schema, Mapping):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(item) for item in schema]
    return schema


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaStoreError(f"cannot read schema file {path}: {exc}") from exc
    if not isinstance(loaded, dict) or "name" not in loaded:
        raise SchemaStoreError(f"schema file {path} does not hold a named Avro type")
    return loaded


def load_definitions(directory: Path = AVSC_DIR) -> dict[str, dict[str, Any]]:
    """Every named type in ``directory``, by short name; the file must be ``<name>.avsc``."""
    definitions: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.avsc")):
        schema = _read_json(path)
        if schema["name"] != path.stem:
            raise SchemaStoreError(f"{path} defines {schema['name']!r}; name the file after it")
        if schema.get("namespace") != NAMESPACE:
            raise SchemaStoreError(f"{path} must use namespace {NAMESPACE!r}")
        definitions[path.stem] = schema
    return definitions


def expand_schema(name: str, definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The schema ``name`` with every referenced shared type defined inline at first use.

    Avro allows a named type to be defined once per schema and referred to by name after;
    the result is therefore a valid standalone schema with the same canonical form a
    hand-inlined file would have.
    """
    if name not in definitions:
        raise SchemaNotFoundError(f"no schema named {name!r} in the store")
    expanded = _expand(definitions[name], definitions, defined=set())
    if not isinstance(expanded, dict):
        raise SchemaStoreError(f"{name} is not a named type")
    return expanded


def _expand(node: Any, definitions: Mapping[str, Mapping[str, Any]], defined: set[str]) -> Any:
    if isinstance(node, str):
        short = node.rsplit(".", 1)[-1]
        if node in _PRIMITIVES or short in defined:
            return node
        if short not in definitions:
            raise SchemaStoreError(f"unknown Avro type {node!r}")
        return _expand(definitions[short], definitions, defined)
    if isinstance(node, list):
        return [_expand(branch, definitions, defined) for branch in node]
    if not isinstance(node, Mapping):
        raise SchemaStoreError(f"malformed Avro type {node!r}")
    out = dict(node)
    kind = out["type"]
    if kind in _NAMED_KINDS:
        defined.add(str(out["name"]))
        if "fields" in out:
            out["fields"] = [
                {**field, "type": _expand(field["type"], definitions, defined)}
                for field in out["fields"]
            ]
    elif kind == "array":
        out["items"] = _expand(out["items"], definitions, defined)
    elif kind == "map":
        out["values"] = _expand(out["values"], definitions, defined)
    else:
        out["type"] = _expand(kind, definitions, defined)
    return out


class SchemaStore:
    """Current event schemas by name, and every known schema version by fingerprint."""

    def __init__(self, current: Iterable[StoredSchema], released: Iterable[StoredSchema]) -> None:
        self._current = {schema.name: schema for schema in current}
        self._released = tuple(released)
        self._by_fingerprint: dict[bytes, StoredSchema] = {}
        # Current first: a fingerprint shared by current and a release resolves to current,
        # which lets the codec skip schema resolution on the common path.
        for schema in (*self._current.values(), *self._released):
            known = self._by_fingerprint.setdefault(schema.fingerprint, schema)
            if known.name != schema.name:
                raise SchemaStoreError(
                    f"fingerprint collision between {known.name} and {schema.name}"
                )

    @classmethod
    def load(cls, *, avsc_dir: Path = AVSC_DIR, history_dir: Path = HISTORY_DIR) -> SchemaStore:
        """Read the current schemas and every released version from the repository."""
        definitions = load_definitions(avsc_dir)
        current = [
            StoredSchema.build(expand_schema(name, definitions), version=CURRENT)
            for name in EVENT_NAMES
        ]
        released = []
        if history_dir.is_dir():
            for version_dir in sorted(p for p in history_dir.iterdir() if p.is_dir()):
                for path in sorted(version_dir.glob("*.avsc")):
                    released.append(StoredSchema.build(_read_json(path), version=version_dir.name))
        return cls(current, released)

    def current(self, name: str) -> StoredSchema:
        """The current schema of event ``name``: what producers write and readers read as."""
        try:
            return self._current[name]
        except KeyError:
            raise SchemaNotFoundError(
                f"no event named {name!r}; known: {', '.join(sorted(self._current))}"
            ) from None

    def by_fingerprint(self, fingerprint_bytes: bytes) -> StoredSchema | None:
        """The schema with this 8-byte CRC-64-AVRO fingerprint, or None when unknown."""
        return self._by_fingerprint.get(fingerprint_bytes)

    @property
    def event_names(self) -> tuple[str, ...]:
        return tuple(self._current)

    @property
    def released(self) -> tuple[StoredSchema, ...]:
        """Every schema of every released version, in version then name order."""
        return self._released

    def versions(self) -> tuple[str, ...]:
        """The released versions, oldest first by directory name."""
        return tuple(dict.fromkeys(schema.version for schema in self._released))


@functools.lru_cache(maxsize=1)
def default_store() -> SchemaStore:
    """The repository's store, loaded once: the files are read-only at run time."""
    return SchemaStore.load()


def write_release(
    version: str, *, avsc_dir: Path = AVSC_DIR, history_dir: Path = HISTORY_DIR
) -> Path:
    """Freeze the current schemas as released ``version`` under ``history_dir``.

    Run it when a schema change is released (see docs/events.md); a released directory is
    never rewritten, so this refuses an existing one.
    """
    target = history_dir / version
    if target.exists():
        raise SchemaStoreError(f"release {version!r} exists already at {target}")
    definitions = load_definitions(avsc_dir)
    target.mkdir(parents=True)
    for name in EVENT_NAMES:
        text = json.dumps(expand_schema(name, definitions), indent=2) + "\n"
        (target / f"{name}.avsc").write_text(text, encoding="utf-8")
    return target
