"""The two analytics engines behind one small protocol: a ClickHouse server or embedded chdb.

Production writes to a ClickHouse server over the native protocol (``clickhouse-driver``);
the embedded default keeps the same tables in-process with ``chdb``. Everything above this
module (migrations, the sink, dashboard queries) talks to :class:`AnalyticsBackend` only, so
one DDL file and one query text serve both, and the tests run every statement on each.

The differences are handled here and nowhere else:

- inserts: the driver sends rows as a native block (``INSERT ... VALUES`` plus the rows;
  inline literal values hang the 18.16 server), chdb reads them as an Arrow table;
- results: the driver returns Python values, chdb returns JSON; :class:`QueryResult` holds
  both the same way (``DateTime`` as naive UTC ``datetime``, integers as ``int``);
- errors: both engines' failures become the same three errors
  (:func:`~sinks.clickhouse.failures.engine_error`): unavailable (retry later), values
  refused (dead-letter the rows), or a query error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from sinks.clickhouse.chdb_session import open_chdb_session
from sinks.clickhouse.failures import chdb_error_code, engine_error, excerpt
from sinks.exceptions import AnalyticsUnavailableError, QueryError, ValuesRefusedError

__all__ = [
    "AnalyticsBackend",
    "ChdbBackend",
    "DriverBackend",
    "QueryResult",
]

#: Default native-protocol port of a ClickHouse server.
DEFAULT_NATIVE_PORT: Final = 9000
#: Seconds to wait for a connection: a down server should fail fast so the sink backs off.
CONNECT_TIMEOUT_S: Final = 3.0
#: Seconds a statement may take on the wire; large inserts on a loaded 2-core host need many.
SEND_RECEIVE_TIMEOUT_S: Final = 120.0


@dataclass(frozen=True)
class QueryResult:
    """Rows of a query with their column names and ClickHouse types, engine-independent."""

    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: list[tuple[Any, ...]]


class AnalyticsBackend(Protocol):
    """What leakguard needs from an analytics engine."""

    @property
    def database(self) -> str:
        """Database holding leakguard's tables; every statement runs in it."""
        ...

    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL, ``OPTIMIZE``...)."""
        ...

    def query(self, sql: str) -> QueryResult:
        """Run a ``SELECT`` and return its rows."""
        ...

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values in ``columns`` order) into ``table`` as one block."""
        ...

    def close(self) -> None:
        """Release connections or the embedded session."""
        ...


class DriverBackend:
    """A ClickHouse server over the native protocol, through ``clickhouse-driver``.

    ``url`` is ``clickhouse://user@host:port`` (``clickhouses://`` for TLS), optionally with
    ``?alt_hosts=host2:port,host3:port``: the nodes tried in turn when one does not answer
    (the other replicas of a cluster). The database is ``database``, created when missing.
    ``settings`` are ClickHouse settings sent with every query. ``client`` replaces the
    connection (built when absent).
    """

    def __init__(
        self,
        *,
        url: str,
        database: str,
        password: str | None = None,
        settings: Mapping[str, Any] | None = None,
        client: Any = None,
    ) -> None:
        self._database = database
        self._settings = _client_kwargs(url, password=password)
        if settings:
            self._settings["settings"] = dict(settings)
        if client is None:
            self._create_database()
            client = self._new_client(database)
        self._client = client

    @property
    def database(self) -> str:
        """Database holding leakguard's tables."""
        return self._database

    def _new_client(self, database: str) -> Any:
        from clickhouse_driver import Client

        return Client(database=database, **self._settings)

    def _create_database(self) -> None:
        bootstrap = self._new_client("default")
        try:
            self._run(bootstrap, f"CREATE DATABASE IF NOT EXISTS {self._database}")
        finally:
            bootstrap.disconnect()

    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing."""
        self._run(self._client, sql)

    def query(self, sql: str) -> QueryResult:
        """Run a ``SELECT``; ``DateTime`` values come back as naive UTC datetimes."""
        rows, column_types = self._run(self._client, sql, with_column_types=True)
        return QueryResult(
            columns=tuple(name for name, _ in column_types),
            types=tuple(kind for _, kind in column_types),
            rows=[tuple(_naive(value) for value in row) for row in rows],
        )

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Send ``rows`` as one native block (never as literal ``VALUES`` text)."""
        if rows:
            self._run(self._client, f"INSERT INTO {table} ({', '.join(columns)}) VALUES", rows)

    def close(self) -> None:
        """Close the connection; the next statement would reconnect."""
        self._client.disconnect()

    @staticmethod
    def _run(client: Any, sql: str, *params: Any, **options: Any) -> Any:
        from clickhouse_driver.errors import Error as DriverError
        from clickhouse_driver.errors import NetworkError, SocketTimeoutError

        try:
            return client.execute(sql, *params, **options)
        except (NetworkError, SocketTimeoutError, OSError, EOFError) as exc:
            client.disconnect()
            raise AnalyticsUnavailableError(f"ClickHouse unreachable: {exc}") from exc
        except DriverError as exc:
            # The server's errors and the driver's own checks of the values both carry a
            # ClickHouse code (a value out of its column's range is 53, found before sending).
            raise engine_error(getattr(exc, "code", None), str(exc), sql=sql) from exc
        except UnicodeError as exc:
            raise ValuesRefusedError(f"text that is not UTF-8 in: {excerpt(sql)}") from exc


def _client_kwargs(url: str, *, password: str | None) -> dict[str, Any]:
    """``clickhouse_driver.Client`` options from a ``clickhouse://user@host:port`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("clickhouse", "clickhouses") or not parts.hostname:
        raise QueryError(f"not a clickhouse:// URL: {parts.scheme}://{parts.hostname or ''}")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"alt_hosts"})
    if unknown:
        raise QueryError(f"unknown ClickHouse URL parameters {unknown}; only alt_hosts is read")
    alternatives = ",".join(query.get("alt_hosts", []))
    return {
        **({"alt_hosts": alternatives} if alternatives else {}),
        "host": parts.hostname,
        "port": parts.port or DEFAULT_NATIVE_PORT,
        "user": unquote(parts.username) if parts.username else "default",
        "password": password or "",
        "secure": parts.scheme == "clickhouses",
        "connect_timeout": CONNECT_TIMEOUT_S,
        "send_receive_timeout": SEND_RECEIVE_TIMEOUT_S,
    }


def _naive(value: Any) -> Any:
    """A timezone-aware datetime as naive UTC, as chdb's results have it."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class ChdbBackend:
    """Embedded ClickHouse (chdb) with its files under ``path``.

    chdb allows one session per process, so pass ``session`` when one is open already (the
    tests' fixture); otherwise :func:`~sinks.clickhouse.chdb_session.open_chdb_session` opens
    one (refusing a working directory that holds a server's ``config.xml``).
    """

    def __init__(self, *, database: str, path: Path | None = None, session: Any = None) -> None:
        if session is None:
            if path is None:
                raise QueryError("ChdbBackend needs a path or an open session")
            session = open_chdb_session(path)
        self._session = session
        self._database = database
        self._raw(f"CREATE DATABASE IF NOT EXISTS {database}")
        self._raw(f"USE {database}")
        # 64-bit integers as JSON numbers, so results carry ints as the driver's do.
        self._raw("SET output_format_json_quote_64bit_integers = 0")

    @property
    def database(self) -> str:
        """Database holding leakguard's tables."""
        return self._database

    def _raw(self, sql: str, fmt: str = "CSV") -> Any:
        try:
            return self._session.query(sql, fmt)
        except Exception as exc:  # chdb raises one exception class for every failure
            text = str(exc)
            raise engine_error(chdb_error_code(text), text, sql=sql) from exc

    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing."""
        self._raw(sql)

    def query(self, sql: str) -> QueryResult:
        """Run a ``SELECT``; values are converted from JSON by their ClickHouse type."""
        payload = json.loads(bytes(self._raw(sql, "JSONCompact").bytes()) or b"{}")
        meta = payload.get("meta", [])
        types = tuple(column["type"] for column in meta)
        converters = [_converter(kind) for kind in types]
        return QueryResult(
            columns=tuple(column["name"] for column in meta),
            types=types,
            rows=[
                tuple(convert(value) for convert, value in zip(converters, row, strict=True))
                for row in payload.get("data", [])
            ],
        )

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` as an Arrow table read by chdb's ``Python()`` table function.

        Column-wise: the rows are transposed by ``zip``, converted by pyarrow in C++, and
        chdb reads the Arrow buffers directly; 2x the rows/s of one ``JSONColumns`` text and
        3x ``JSONEachRow`` (``python -m bench.sink``; docs/analytics.md). ``DateTime``
        columns take epoch seconds.
        """
        if not rows:
            return
        import pyarrow as pa

        names = tuple(columns)
        if any(len(row) != len(names) for row in rows):
            raise QueryError(f"rows for {table} must have {len(names)} values each")
        try:
            # chdb's Python(name) looks the name up in the calling frames' variables.
            columns_of = (_arrow_column(list(values)) for values in zip(*rows, strict=True))
            leakguard_rows = pa.table(dict(zip(names, columns_of, strict=True)))  # noqa: F841
        except (pa.ArrowException, OverflowError, UnicodeError) as exc:
            raise ValuesRefusedError(f"rows for {table} do not convert to Arrow: {exc}") from exc
        sql = f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM Python(leakguard_rows)"
        self._raw(sql)

    def close(self) -> None:
        """Close the embedded session."""
        self._session.close()


def _arrow_column(values: list[Any]) -> Any:
    """``values`` as an Arrow array, typed where inference cannot: a column of only ``None``
    is inferred as Arrow's ``null`` type and one of only empty lists as ``list<null>``, which
    chdb refuses to convert ("Cannot convert NULL to a non-nullable type"), so a batch of
    model updates that all target every checkpoint failed for good. They go as (lists of)
    strings, which ClickHouse converts to the column's Nullable or Array type."""
    import pyarrow as pa

    array = pa.array(values)
    if pa.types.is_null(array.type):
        return array.cast(pa.string())
    if pa.types.is_list(array.type) and pa.types.is_null(array.type.value_type):
        return array.cast(pa.list_(pa.string()))
    return array


def _converter(kind: str) -> Any:
    """A function turning chdb's JSON value of ClickHouse type ``kind`` into Python."""
    inner = kind[len("Nullable(") : -1] if kind.startswith("Nullable(") else kind
    if inner.startswith("DateTime"):
        return _parse_datetime
    if inner == "Date":
        return lambda value: None if value is None else datetime.fromisoformat(value).date()
    return lambda value: value


def _parse_datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
