"""The store: fingerprints as the Avro spec defines them, inlined shared types, releases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from fastavro.schema import fingerprint

from schemas import Codec, SchemaNotFoundError, SchemaStoreError
from schemas.codec import MAGIC
from schemas.store import (
    AVSC_DIR,
    EVENT_NAMES,
    HISTORY_DIR,
    SchemaStore,
    default_store,
    write_release,
)


def test_crc64_avro_fingerprint_matches_the_spec_vector() -> None:
    # Avro spec: fingerprint64 of the schema "int" is 0x7275d51a3f395c8f, written little-endian.
    assert bytes.fromhex(fingerprint('"int"', "CRC-64-AVRO")) == (0x7275D51A3F395C8F).to_bytes(
        8, "little"
    )


def _without_logical_types(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_logical_types(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "logicalType" in node:
        return node["type"]
    return {k: _without_logical_types(v) for k, v in node.items()}


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_fingerprint_agrees_with_the_avro_library(name: str) -> None:
    """Cross-check with the other library. The spec's canonical form drops logicalType and
    writes primitives in simple form; avro-python 1.12 keeps ``{"type": "string"}`` for them
    (a bug: Java and fastavro agree on the simple form), so compare without logical types."""
    stored = default_store().current(name)
    plain = avro.schema.parse(json.dumps(_without_logical_types(stored.schema)))
    assert stored.fingerprint == plain.fingerprint()
    assert '{"type":"string"}' not in stored.canonical


def test_header_is_marker_and_fingerprint() -> None:
    from schemas import ModelStatus

    data = Codec().encode(
        ModelStatus(checkpoint="hq", worker_id="w", model_version="m", state="candidate")
    )
    assert data[:2] == MAGIC == b"\xc3\x01"
    schema = Codec().writer_schema(data)
    assert (schema.name, schema.version) == ("ModelStatus", "current")


def test_shared_types_are_inlined_once() -> None:
    canonical = default_store().current("Outcome").canonical
    assert canonical.count('"leakguard.v1.ObjectClass","type":"enum"') == 1
    assert canonical.count('"name":"leakguard.v1.Box","type":"record"') == 1


def test_unknown_names_raise_schema_errors() -> None:
    with pytest.raises(SchemaNotFoundError, match="no event named 'Nope'"):
        default_store().current("Nope")
    assert default_store().by_fingerprint(b"\x00" * 8) is None


def test_bad_schema_files_fail_at_load(tmp_path: Path) -> None:
    (tmp_path / "Box.avsc").write_text('{"type": "record", "name": "Other", "fields": []}')
    with pytest.raises(SchemaStoreError, match="name the file after it"):
        SchemaStore.load(avsc_dir=tmp_path, history_dir=tmp_path / "none")
    (tmp_path / "Box.avsc").write_text("{not json")
    with pytest.raises(SchemaStoreError, match="cannot read schema file"):
        SchemaStore.load(avsc_dir=tmp_path, history_dir=tmp_path / "none")


def test_write_release_freezes_current_schemas(tmp_path: Path) -> None:
    target = write_release("v9", history_dir=tmp_path)
    store = SchemaStore.load(history_dir=tmp_path)
    assert store.versions() == ("v9",)
    for name in EVENT_NAMES:
        assert json.loads((target / f"{name}.avsc").read_text()) == store.current(name).schema
    with pytest.raises(SchemaStoreError, match="exists already"):
        write_release("v9", history_dir=tmp_path)


def test_released_v1_is_the_checked_in_history() -> None:
    assert (HISTORY_DIR / "v1").is_dir()
    assert AVSC_DIR.is_dir()
