"""Conversion between typed events (``schemas.events``) and the plain records Avro writes.

This is on every message's hot path, where the codec may cost at most 15 % over bare fastavro,
so each class gets one converter compiled from generated source, the way ``dataclasses``
compiles ``__init__``: nested records, arrays and optionals are unrolled into straight-line
code and loops, with no per-field type inspection and no per-object function call at run time.

Decoding *adopts* the record: the dict fastavro just read becomes the instance's ``__dict__``
(``object.__new__`` plus the ``__dict__`` setter, two C calls and no copy), nested dicts become
nested instances in place, lists become tuples. That is the cheapest way CPython builds an
object, 4-5x cheaper than the keyword ``__init__``; it is sound because the Avro reader has
just checked the record against the schema, and a test proves every class equal to its schema.
Encoding copies an instance's ``__dict__`` (``dict.copy``) only where a nested field must
change form, and hands leaf records' own ``__dict__`` to fastavro.
Literal enums, strings, numbers, bytes, ``uuid.UUID`` and ``datetime`` pass through
untouched: fastavro handles the logical types itself.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["from_record", "record_decoder", "to_record"]

T = TypeVar("T")


def to_record(obj: object) -> dict[str, Any]:
    """The Avro record of a dataclass (dicts for records, lists for arrays), for fastavro.

    The top-level dict is new; nested records without arrays or records of their own are
    the instances' own ``__dict__`` (a ``Box``, an ``ImagePayload``), not copies: read the
    record, do not change it.
    """
    cls: Any = type(obj)  # Any: functools.cache wants Hashable, which mypy denies type[object]
    record: dict[str, Any] = _encoder(cls)(obj)
    return record


def from_record(cls: type[T], record: dict[str, Any]) -> T:
    """The dataclass ``cls`` built from an Avro record as fastavro reads it.

    The record is taken over, not copied: it and the dicts and lists nested in it become the
    event's state, so pass a record nothing else holds (the codec passes the one it just
    read). ``record`` must hold every field of ``cls`` (a record read with the class's
    current schema does); a missing one raises ``KeyError``.
    """
    return record_decoder(cls)(record)


def record_decoder(cls: type[T]) -> Callable[[dict[str, Any]], T]:
    """The compiled :func:`from_record` of ``cls``, for a caller that keeps it per type."""
    key: Any = cls
    decoder: Callable[[dict[str, Any]], T] = _decoder(key)
    return decoder


def _optional_arg(hint: Any) -> Any | None:
    """``X`` for a hint ``X | None``, else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return None


def _is_record(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _is_mapping(hint: Any) -> bool:
    return typing.get_origin(hint) in (dict, Mapping, typing.Mapping)


def _needs_conversion(hint: Any) -> bool:
    """Whether values of ``hint`` differ between the record and the instance."""
    inner = _optional_arg(hint)
    if inner is not None:
        return _needs_conversion(inner)
    if _is_record(hint) or typing.get_origin(hint) is tuple:
        return True
    return _is_mapping(hint) and _needs_conversion(typing.get_args(hint)[1])


def _field_hints(cls: type) -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(cls)
    fields = []
    for field in dataclasses.fields(cls):
        if not field.name.isidentifier():  # names come from our own classes; be sure anyway
            raise TypeError(f"{cls.__name__}.{field.name} is not an identifier")
        fields.append((field.name, hints[field.name]))
    return fields


def _dict_setter(cls: type) -> Callable[[object, dict[str, Any]], None]:
    """The C-level setter of ``cls`` instances' ``__dict__``; frozen classes block the rest."""
    owner = next((k for k in cls.__mro__ if "__dict__" in k.__dict__), object)
    descriptor = owner.__dict__.get("__dict__")
    if not isinstance(descriptor, types.GetSetDescriptorType):
        raise TypeError(f"{cls.__name__} must be a dataclass without slots")
    setter: Callable[[object, dict[str, Any]], None] = descriptor.__set__
    return setter


class _Source:
    """The lines, unique local names and constants of one generated function."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {"_new": object.__new__}
        self._counter = itertools.count()

    def local(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter)}"

    def constant(self, value: Any, prefix: str) -> str:
        name = self.local(prefix)
        self.namespace[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def compile(self, name: str, parameter: str, cls: type) -> Callable[[Any], Any]:
        source = "\n".join([f"def {name}({parameter}):", *self.lines]) + "\n"
        exec(compile(source, f"<schemas.convert {name} {cls.__name__}>", "exec"), self.namespace)
        function: Callable[[Any], Any] = self.namespace[name]
        return function


def _emit_adopt(source: _Source, cls: type, record: str, depth: int) -> str:
    """Emit the statements that turn the dict named ``record`` into a ``cls``; return the name
    of the local holding the instance."""
    for name, hint in _field_hints(cls):
        _emit_convert(source, hint, f"{record}[{name!r}]", depth)
    obj = source.local("_o")
    source.emit(depth, f"{obj} = _new({source.constant(cls, '_C')})")
    source.emit(depth, f"{source.constant(_dict_setter(cls), '_D')}({obj}, {record})")
    return obj


def _emit_convert(source: _Source, hint: Any, target: str, depth: int) -> None:
    """Emit the statements that replace the record value at ``target`` (an assignable
    expression) by its instance form, if the two differ."""
    if not _needs_conversion(hint):
        return
    inner = _optional_arg(hint)
    if inner is not None:
        source.emit(depth, f"if {target} is not None:")
        _emit_convert(source, inner, target, depth + 1)
    elif _is_record(hint):
        record = source.local("_r")
        source.emit(depth, f"{record} = {target}")
        source.emit(depth, f"{target} = {_emit_adopt(source, hint, record, depth)}")
    elif _is_mapping(hint):
        mapping, key = source.local("_m"), source.local("_k")
        source.emit(depth, f"{mapping} = {target}")
        source.emit(depth, f"for {key} in {mapping}:")  # values change, keys do not
        _emit_convert(source, typing.get_args(hint)[1], f"{mapping}[{key}]", depth + 1)
    else:  # tuple[X, ...]: Avro arrays are lists in records, tuples in events
        item = typing.get_args(hint)[0]
        if _needs_conversion(item):
            items, index = source.local("_l"), source.local("_i")
            source.emit(depth, f"{items} = {target}")
            source.emit(depth, f"for {index} in range(len({items})):")
            _emit_convert(source, item, f"{items}[{index}]", depth + 1)
            source.emit(depth, f"{target} = tuple({items})")
        else:
            source.emit(depth, f"{target} = tuple({target})")


def _emit_record(source: _Source, cls: type, obj: str, depth: int, *, fresh: bool) -> str:
    """Emit the statements building the record of the instance ``obj``; return an expression
    for it: a new dict, or with ``fresh`` False and no field to convert, the instance's own
    ``__dict__`` (fastavro only reads it)."""
    fields = [(name, hint) for name, hint in _field_hints(cls) if _needs_conversion(hint)]
    if not fields and not fresh:
        return f"{obj}.__dict__"
    # copy() then item stores: 3x cheaper than the {**d, 'k': v} display.
    record = source.local("_d")
    source.emit(depth, f"{record} = {obj}.__dict__.copy()")
    for name, hint in fields:
        value = _emit_value(source, hint, f"{obj}.{name}", depth)
        source.emit(depth, f"{record}[{name!r}] = {value}")
    return record


def _emit_value(source: _Source, hint: Any, value: str, depth: int) -> str:
    """Emit the statements converting ``value``, a field of type ``hint``, to its record
    form; return an expression for the result."""
    if not _needs_conversion(hint):
        return value
    inner = _optional_arg(hint)
    if inner is not None:
        given, result = source.local("_g"), source.local("_v")
        source.emit(depth, f"{given} = {value}")
        source.emit(depth, f"{result} = None")
        source.emit(depth, f"if {given} is not None:")
        source.emit(depth + 1, f"{result} = {_emit_value(source, inner, given, depth + 1)}")
        return result
    if _is_record(hint):
        return _emit_record(source, hint, value, depth, fresh=False)
    if _is_mapping(hint):
        result, key, item = source.local("_m"), source.local("_k"), source.local("_x")
        source.emit(depth, f"{result} = {{}}")
        source.emit(depth, f"for {key}, {item} in {value}.items():")
        converted = _emit_value(source, typing.get_args(hint)[1], item, depth + 1)
        source.emit(depth + 1, f"{result}[{key}] = {converted}")
        return result
    # Lists, not tuples: fastavro reads a tuple in a union as a (branch name, value) pair.
    item_hint = typing.get_args(hint)[0]
    if not _needs_conversion(item_hint):
        return f"list({value})"
    result, item = source.local("_l"), source.local("_x")
    source.emit(depth, f"{result} = []")
    source.emit(depth, f"for {item} in {value}:")
    converted = _emit_value(source, item_hint, item, depth + 1)
    source.emit(depth + 1, f"{result}.append({converted})")
    return result


@functools.cache
def _encoder(cls: Any) -> Callable[[Any], Any]:
    source = _Source()
    source.emit(1, f"return {_emit_record(source, cls, 'obj', 1, fresh=True)}")
    return source.compile("encode", "obj", cls)


@functools.cache
def _decoder(cls: Any) -> Callable[[Any], Any]:
    source = _Source()
    source.emit(1, f"return {_emit_adopt(source, cls, 'record', 1)}")
    return source.compile("decode", "record", cls)
