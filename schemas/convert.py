"""Conversion between typed events (``schemas.events``) and the plain records Avro writes.

The converters are compiled once per class from the dataclass fields and their type hints,
so the hot path is a dict comprehension per record with no per-field type inspection.
Literal enums, strings, numbers, bytes, ``uuid.UUID`` and ``datetime`` pass through untouched:
fastavro handles the logical types itself.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["from_record", "to_record"]

T = TypeVar("T")

#: Converts one value; ``None`` in a plan means "pass the value through unchanged".
_Convert = Callable[[Any], Any]
_Plan = tuple[tuple[str, _Convert | None], ...]


def to_record(obj: object) -> dict[str, Any]:
    """The Avro record (a dict, nested records as dicts, arrays as lists) of a dataclass."""
    cls: Any = type(obj)  # Any: functools.cache wants Hashable, which mypy denies type[object]
    record: dict[str, Any] = _encoder(cls)(obj)
    return record


def from_record(cls: type[T], record: Mapping[str, Any]) -> T:
    """The dataclass ``cls`` built from an Avro record as fastavro reads it."""
    key: Any = cls
    result: T = _decoder(key)(record)
    return result


def _optional_arg(hint: Any) -> Any | None:
    """``X`` for a hint ``X | None``, else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return None


def _value_converter(hint: Any, record_converter: Callable[[type], _Convert]) -> _Convert | None:
    """How to convert one value of type ``hint``, or None for a pass-through."""
    inner = _optional_arg(hint)
    if inner is not None:
        convert = _value_converter(inner, record_converter)
        if convert is None:
            return None
        return lambda value: None if value is None else convert(value)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return record_converter(hint)
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = _value_converter(typing.get_args(hint)[0], record_converter)
        if item is None:
            return None
        return lambda values: [item(value) for value in values]
    if origin in (dict, Mapping, typing.Mapping):
        value_convert = _value_converter(typing.get_args(hint)[1], record_converter)
        if value_convert is None:
            return None
        return lambda mapping: {key: value_convert(value) for key, value in mapping.items()}
    return None


def _plan(cls: type, record_converter: Callable[[type], _Convert]) -> _Plan:
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, _value_converter(hints[f.name], record_converter)) for f in dataclasses.fields(cls)
    )


@functools.cache
def _encoder(cls: Any) -> _Convert:
    plan = _plan(cls, _encoder)

    def encode(obj: Any) -> dict[str, Any]:
        return {
            name: value if convert is None else convert(value)
            for name, convert in plan
            for value in (getattr(obj, name),)
        }

    return encode


def _tupled(convert: _Convert | None, hint: Any) -> _Convert | None:
    """Arrays decode to tuples so that frozen events stay immutable and comparable."""
    target = _optional_arg(hint) or hint
    if typing.get_origin(target) is not tuple:
        return convert
    if convert is None:
        return lambda values: None if values is None else tuple(values)
    return lambda values: None if values is None else tuple(convert(values))


@functools.cache
def _decoder(cls: Any) -> _Convert:
    hints = typing.get_type_hints(cls)
    plan = tuple((name, _tupled(convert, hints[name])) for name, convert in _plan(cls, _decoder))

    def decode(record: Mapping[str, Any]) -> Any:
        return cls(
            **{
                name: value if convert is None else convert(value)
                for name, convert in plan
                for value in (record[name],)
            }
        )

    return decode
