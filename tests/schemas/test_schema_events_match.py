"""STYLE 10: the Python event classes agree with the ``.avsc`` files, field by
field, and the class enum agrees with leakguard/classes.py."""

from __future__ import annotations

import dataclasses
import types
import typing
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from leakguard.classes import CLASS_NAMES
from schemas.events import EVENT_TYPES, ObjectClassName, now_ms, outcome_id
from schemas.examples import example_detection
from schemas.store import AVSC_DIR, EVENT_NAMES, default_store, load_definitions

_PRIMITIVE_TYPES: Mapping[str, type] = {
    "boolean": bool,
    "int": int,
    "long": int,
    "float": float,
    "double": float,
    "bytes": bytes,
    "string": str,
}
_LOGICAL_TYPES: Mapping[str, type] = {"uuid": uuid.UUID, "timestamp-millis": datetime}


def _record_class(name: str) -> type:
    import schemas.events

    cls = getattr(schemas.events, name, None)
    assert dataclasses.is_dataclass(cls), f"no dataclass schemas.events.{name} for Avro {name}"
    assert isinstance(cls, type)
    return cls


def _check_type(avro: Any, hint: Any, named: dict[str, Any], where: str) -> None:
    """Fail unless Python ``hint`` is the type the codec produces for Avro type ``avro``."""
    if isinstance(avro, str) and avro in named:
        avro = named[avro]
    if isinstance(avro, list):
        assert len(avro) == 2, f"{where}: unions are [null, X]"
        assert avro[0] == "null", f"{where}: unions are [null, X]"
        assert typing.get_origin(hint) in (typing.Union, types.UnionType), f"{where}: not Optional"
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        assert len(args) == 1, where
        _check_type(avro[1], args[0], named, where)
        return
    if isinstance(avro, str):
        assert hint is _PRIMITIVE_TYPES[avro], f"{where}: {avro} needs {_PRIMITIVE_TYPES[avro]}"
        return
    kind, logical = avro["type"], avro.get("logicalType")
    if logical is not None:
        assert hint is _LOGICAL_TYPES[logical], (
            f"{where}: {logical} needs {_LOGICAL_TYPES[logical]}"
        )
    elif kind == "enum":
        named[avro["name"]] = avro
        assert typing.get_origin(hint) is typing.Literal, f"{where}: enum needs a Literal"
        assert list(typing.get_args(hint)) == avro["symbols"], f"{where}: symbols differ"
    elif kind == "record":
        named[avro["name"]] = avro
        _check_record(avro, _record_class(avro["name"]), named)
        assert hint is _record_class(avro["name"]), f"{where}: needs {avro['name']}"
    elif kind == "array":
        assert typing.get_origin(hint) is tuple, f"{where}: arrays are tuple[X, ...]"
        item, ellipsis = typing.get_args(hint)
        assert ellipsis is Ellipsis, where
        _check_type(avro["items"], item, named, where + "[]")
    elif kind == "map":
        assert typing.get_origin(hint) in (dict, Mapping), f"{where}: maps are Mapping[str, X]"
        key, value = typing.get_args(hint)
        assert key is str, where
        _check_type(avro["values"], value, named, where + "{}")
    else:
        _check_type(kind, hint, named, where)


def _check_default(field: Mapping[str, Any], dc_field: dataclasses.Field[Any], where: str) -> None:
    if "default" not in field:
        assert dc_field.name in ("event_id", "event_time") or (
            dc_field.default is dataclasses.MISSING
            and dc_field.default_factory is dataclasses.MISSING
        ), f"{where}: required in Avro, so no Python default"
        return
    default = field["default"]
    if dc_field.default_factory is not dataclasses.MISSING:
        assert dc_field.default_factory() == default, f"{where}: default differs"
    elif isinstance(default, list):
        assert dc_field.default == tuple(default), f"{where}: default differs"
    else:
        assert dc_field.default == default, f"{where}: default differs"


def _check_record(schema: Mapping[str, Any], cls: type, named: dict[str, Any]) -> None:
    fields = dataclasses.fields(cls)
    hints = typing.get_type_hints(cls)
    assert [f.name for f in fields] == [f["name"] for f in schema["fields"]], (
        f"{cls.__name__}: field names or order differ from {schema['name']}.avsc"
    )
    for avro_field, dc_field in zip(schema["fields"], fields, strict=True):
        where = f"{cls.__name__}.{dc_field.name}"
        assert avro_field.get("doc"), f"{where}: every Avro field is documented"
        _check_type(avro_field["type"], hints[dc_field.name], named, where)
        _check_default(avro_field, dc_field, where)


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_event_class_matches_avsc(name: str) -> None:
    schema = default_store().current(name).schema
    assert EVENT_TYPES[name] is _record_class(name)
    assert schema.get("doc"), f"{name} is documented"
    _check_record(schema, EVENT_TYPES[name], {})


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_every_event_carries_id_and_time(name: str) -> None:
    fields = {f["name"]: f["type"] for f in default_store().current(name).schema["fields"]}
    assert fields["event_id"] == {"type": "string", "logicalType": "uuid"}
    assert fields["event_time"] == {"type": "long", "logicalType": "timestamp-millis"}


def test_object_class_enum_lists_class_names_in_id_order() -> None:
    expected = [CLASS_NAMES[class_id] for class_id in sorted(CLASS_NAMES)]
    assert sorted(CLASS_NAMES) == list(range(1, len(CLASS_NAMES) + 1)), "ids are 1..n"
    assert load_definitions(AVSC_DIR)["ObjectClass"]["symbols"] == expected
    assert list(typing.get_args(ObjectClassName)) == expected


def test_all_named_types_share_the_namespace() -> None:
    """The store's inlining matches names by short name; one namespace makes that exact."""
    for name, schema in load_definitions(AVSC_DIR).items():
        assert schema["namespace"] == "leakguard.v1", name


def test_outcome_id_is_deterministic_per_lane_frame_object_and_kind() -> None:
    key = {"checkpoint": "hq", "lane": "1", "frame_id": "f1", "object_id": "o1"}
    first = outcome_id(**key, kind="fp")
    assert first == outcome_id(**key, kind="fp")
    assert first.version == 5
    assert first != outcome_id(**key, kind="tp")
    assert first != outcome_id(**{**key, "lane": "2"}, kind="fp")


def test_event_defaults_give_fresh_ids_and_millisecond_utc_times() -> None:
    first, second = example_detection(objects=0), example_detection(objects=0)
    assert first.event_id != second.event_id
    assert first.event_time.tzinfo is UTC
    assert first.event_time.microsecond % 1000 == 0
    assert now_ms() >= first.event_time
