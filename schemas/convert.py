"""Conversion between typed events (``schemas.events``) and the plain records Avro writes.

This is on every message's hot path, so the converters are compiled once per class, the way
``dataclasses`` compiles ``__init__``: generated source with one line per field, no per-field
type inspection at run time. Decoding builds the frozen instance with ``object.__new__`` and
the slots' own setters instead of the keyword ``__init__``: the record was just validated by
the Avro reader against a schema that a test proves equal to the class, and this is 3-4x
faster (``python -m bench.codec``). Literal enums, strings, numbers, bytes, ``uuid.UUID`` and
``datetime`` pass through untouched: fastavro handles the logical types itself.
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

#: Converts one value; ``None`` means "pass the value through unchanged".
_Convert = Callable[[Any], Any]


def to_record(obj: object) -> dict[str, Any]:
    """The Avro record (a dict, nested records as dicts, arrays as lists) of a dataclass."""
    cls: Any = type(obj)  # Any: functools.cache wants Hashable, which mypy denies type[object]
    record: dict[str, Any] = _encoder(cls)(obj)
    return record


def from_record(cls: type[T], record: Mapping[str, Any]) -> T:
    """The dataclass ``cls`` built from an Avro record as fastavro reads it.

    ``record`` must hold every field of ``cls`` (a record read with the class's current
    schema does); a missing one raises ``KeyError``.
    """
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


def _converter(hint: Any, *, decoding: bool) -> _Convert | None:
    """How to convert one value of type ``hint``, or None for a pass-through."""
    inner = _optional_arg(hint)
    if inner is not None:
        convert = _converter(inner, decoding=decoding)
        if convert is None:
            return None
        return lambda value: None if value is None else convert(value)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _decoder(hint) if decoding else _encoder(hint)
    origin = typing.get_origin(hint)
    if origin is tuple:
        # Arrays are tuples in events (immutable, comparable) and lists in records: fastavro
        # reads tuples in unions as (branch name, value) pairs.
        item = _converter(typing.get_args(hint)[0], decoding=decoding)
        sequence = tuple if decoding else list
        if item is None:
            return sequence
        return lambda values: sequence([item(value) for value in values])
    if origin in (dict, Mapping, typing.Mapping):
        value_convert = _converter(typing.get_args(hint)[1], decoding=decoding)
        if value_convert is None:
            return dict if not decoding else None
        return lambda mapping: {key: value_convert(value) for key, value in mapping.items()}
    return None


def _fields(cls: type, *, decoding: bool) -> list[tuple[str, _Convert | None]]:
    hints = typing.get_type_hints(cls)
    plan = []
    for field in dataclasses.fields(cls):
        if not field.name.isidentifier():  # names come from our own classes; be sure anyway
            raise TypeError(f"{cls.__name__}.{field.name} is not an identifier")
        plan.append((field.name, _converter(hints[field.name], decoding=decoding)))
    return plan


def _compile(source: str, namespace: dict[str, Any], name: str) -> _Convert:
    exec(compile(source, f"<schemas.convert {name}>", "exec"), namespace)
    function: _Convert = namespace[name]
    return function


@functools.cache
def _encoder(cls: Any) -> _Convert:
    namespace: dict[str, Any] = {}
    items = []
    for index, (name, convert) in enumerate(_fields(cls, decoding=False)):
        value = f"obj.{name}"
        if convert is not None:
            namespace[f"_c{index}"] = convert
            value = f"_c{index}({value})"
        items.append(f"{name!r}: {value}")
    source = f"def encode(obj):\n    return {{{', '.join(items)}}}\n"
    return _compile(source, namespace, "encode")


@functools.cache
def _decoder(cls: Any) -> _Convert:
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = ["def decode(record):", "    obj = _new(_cls)"]
    for index, (name, convert) in enumerate(_fields(cls, decoding=True)):
        # The slot lives on the class that declares the field, maybe a base (EventHeader).
        slot = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
        if not isinstance(slot, types.MemberDescriptorType):
            raise TypeError(f"{cls.__name__} must be a dataclass with slots=True")
        namespace[f"_s{index}"] = slot.__set__
        value = f"record[{name!r}]"
        if convert is not None:
            namespace[f"_c{index}"] = convert
            value = f"_c{index}({value})"
        lines.append(f"    _s{index}(obj, {value})")
    lines.append("    return obj")
    return _compile("\n".join(lines) + "\n", namespace, "decode")
