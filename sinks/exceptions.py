"""Errors of the sinks: the ClickHouse writer, the DDL runner, dashboards and alert delivery.

Everything raised on purpose derives from :class:`SinkError`, itself a
:class:`~leakguard.errors.LeakguardError`, so the CLI shows one readable line for it.
"""

from __future__ import annotations

from leakguard.errors import LeakguardError

__all__ = [
    "AnalyticsUnavailableError",
    "BackpressureError",
    "MigrationError",
    "QueryError",
    "SinkError",
    "ValuesRefusedError",
]


class SinkError(LeakguardError):
    """Base class of every error raised by ``sinks``."""


class AnalyticsUnavailableError(SinkError):
    """The analytics store cannot be reached right now (server down, connection reset).

    Transient by nature: the sink keeps its batch, backs off and retries; nothing is
    committed to Kafka until the insert succeeded.
    """


class ChdbDirectoryError(SinkError):
    """chdb cannot be opened in this working directory: it holds a server's ``config.xml``,
    which chdb would read and obey."""


class QueryError(SinkError):
    """The analytics store refused a statement (bad SQL, unknown table, wrong types)."""


class ValuesRefusedError(QueryError):
    """The store refused the values of an insert, not the statement: a number out of the
    column type's range, text that does not parse, a NULL in a column without ``Nullable``.

    The rows are at fault, so retrying cannot help: the sink dead-letters the events they
    came from and writes the rest of the batch.
    """


class MigrationError(SinkError):
    """The migrations on disk and the ones applied to the database disagree, or one failed."""


class BackpressureError(SinkError):
    """The sink cannot take more rows until its buffered batches have been written.

    ``retry_after_s`` says when the caller should try again (the current back-off delay).
    """

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
