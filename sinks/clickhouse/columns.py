"""Row values checked against the ClickHouse types of the columns they go into.

chdb converts whatever it is given: ``-5`` into a ``UInt32`` column is stored as
4,294,967,291, ``300`` into ``UInt8`` as 44, a time before 1970 into ``DateTime`` as 1970;
the server refuses the whole block instead, and the sink used to retry that block for ever.
An Avro ``int`` or ``long`` can hold all of those, so a producer can send them. The sink
therefore checks every row before it buffers it, and an event with a value its column cannot
hold is dead-lettered alone while the rest of its batch lands.

The checks come from the types the store itself reports (``DESCRIBE TABLE``), so a migration
that changes a column changes its check; a column type without a check here fails at
start-up (:class:`~sinks.exceptions.SinkError`), never silently passes.

Beyond the types: no float column takes NaN or an infinity. ClickHouse would store them,
but no leakguard measure is either, one NaN makes the dashboards' averages, quantiles and
maxima of its group NaN, and chdb's JSON results read it back as NULL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.rows import TABLES, Row
from sinks.exceptions import QueryError, SinkError

__all__ = ["RowChecks", "ValueCheck", "column_types", "value_check"]

#: A check of one value: None when it fits its column, else why not (no value quoted for
#: text, so a reason never repeats what a producer wrote).
ValueCheck: TypeAlias = Callable[[Any], str | None]

_INTEGER: Final = re.compile(r"(U?)Int(8|16|32|64)")
_WRAPPED: Final = re.compile(r"(Nullable|Array|LowCardinality)\((.+)\)")
#: ``DateTime`` is unsigned 32-bit seconds: 1970-01-01 to 2106-02-07 (UTC).
_DATETIME_MAX_S: Final = 2**32 - 1
#: Largest finite ``Float32``; ``Float64`` holds every finite Python float.
_FLOAT32_MAX: Final = 3.4028234663852886e38


def value_check(type_name: str) -> ValueCheck:
    """The check of a value for a column of ClickHouse type ``type_name``.

    Knows ``(U)Int8..64``, ``Float32/64``, ``String``, ``DateTime`` (epoch seconds, as
    :mod:`sinks.clickhouse.rows` writes it) and ``Nullable`` and ``Array`` of those;
    ``LowCardinality`` (the cluster DDL's) is only an encoding and holds what its type holds.
    Raises :class:`SinkError` for any other type.
    """
    if (wrapped := _WRAPPED.fullmatch(type_name)) is not None:
        kind, inner = wrapped.groups()
        if kind == "LowCardinality":
            return value_check(inner)
        return _nullable(value_check(inner)) if kind == "Nullable" else _array(value_check(inner))
    if (integer := _INTEGER.fullmatch(type_name)) is not None:
        bits = int(integer.group(2))
        if integer.group(1):
            return _integer(0, 2**bits - 1, type_name)
        return _integer(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1, type_name)
    if type_name == "DateTime" or type_name.startswith("DateTime("):
        return _integer(0, _DATETIME_MAX_S, f"{type_name} (epoch seconds)")
    if type_name in ("Float32", "Float64"):
        return _float(_FLOAT32_MAX if type_name == "Float32" else math.inf, type_name)
    if type_name == "String":
        return _string
    raise SinkError(f"no value check for column type {type_name}: add one to {__name__}")


def _integer(low: int, high: int, name: str) -> ValueCheck:
    def check(value: Any) -> str | None:
        # bool is an int: rows hold flags as 0 and 1, and True and False mean the same.
        if isinstance(value, int) and low <= value <= high:
            return None
        if not isinstance(value, int):
            return f"{_kind(value)} where {name} needs an integer"
        return f"{value} is outside {name} [{low}, {high}]"

    return check


def _float(limit: float, name: str) -> ValueCheck:
    def check(value: Any) -> str | None:
        if isinstance(value, int | float) and math.isfinite(value) and -limit <= value <= limit:
            return None
        if not isinstance(value, int | float):
            return f"{_kind(value)} where {name} needs a number"
        return f"{value} does not fit {name} (finite numbers only)"

    return check


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else f"{_kind(value)} where String needs text"


def _nullable(inner: ValueCheck) -> ValueCheck:
    def check(value: Any) -> str | None:
        return None if value is None else inner(value)

    return check


def _array(inner: ValueCheck) -> ValueCheck:
    def check(value: Any) -> str | None:
        if not isinstance(value, list | tuple):
            return f"{_kind(value)} where an Array is needed"
        for index, item in enumerate(value):
            if (reason := inner(item)) is not None:
                return f"item {index}: {reason}"
        return None

    return check


def _kind(value: Any) -> str:
    """How a refusal names a value's Python type (NULL for None, as ClickHouse says it)."""
    return "NULL" if value is None else type(value).__name__


@dataclass(frozen=True)
class RowChecks:
    """Per table, the name and check of each column, in :data:`~sinks.clickhouse.rows.TABLES`
    order (the order of the values in a row)."""

    columns: Mapping[str, tuple[tuple[str, ValueCheck], ...]]

    @classmethod
    def from_types(cls, types: Mapping[str, Mapping[str, str]]) -> RowChecks:
        """Checks for ``types`` (table -> column -> ClickHouse type) of every table in
        ``TABLES``; raises :class:`SinkError` for a table or column it lacks."""
        columns: dict[str, tuple[tuple[str, ValueCheck], ...]] = {}
        for table, names in TABLES.items():
            described = types.get(table, {})
            missing = [name for name in names if name not in described]
            if missing:
                raise SinkError(
                    f"table {table} lacks columns {', '.join(missing)}: "
                    "apply the migrations (leakguard analytics migrate)"
                )
            columns[table] = tuple((name, value_check(described[name])) for name in names)
        return cls(columns=columns)

    @classmethod
    def from_backend(cls, backend: AnalyticsBackend) -> RowChecks:
        """Checks for the column types ``backend``'s tables have now."""
        return cls.from_types(column_types(backend, TABLES))

    def refusal(self, table: str, row: Row) -> str | None:
        """Why ``row`` cannot go into ``table`` as it is (``column: reason``), or None."""
        columns = self.columns[table]
        if len(row) != len(columns):
            return f"{len(row)} values for {len(columns)} columns"
        for (name, check), value in zip(columns, row, strict=True):
            if (reason := check(value)) is not None:
                return f"{name}: {reason}"
        return None


def column_types(
    backend: AnalyticsBackend, tables: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, str]]:
    """Table -> column -> ClickHouse type of each of ``tables`` as ``backend`` describes it.

    A table that does not exist is a :class:`SinkError` naming the command that creates it;
    an unavailable store raises :class:`~sinks.exceptions.AnalyticsUnavailableError` as every
    statement does.
    """
    types: dict[str, dict[str, str]] = {}
    for table in tables:
        try:
            described = backend.query(f"DESCRIBE TABLE {table}")
        except QueryError as exc:
            raise SinkError(
                f"cannot describe table {table} ({exc}): "
                "apply the migrations (leakguard analytics migrate)"
            ) from exc
        types[table] = {str(row[0]): str(row[1]) for row in described.rows}
    return types
