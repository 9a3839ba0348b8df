"""The ClickHouse side of the analytics: engines, versioned DDL, event rows, the batching sink.

``AnalyticsBackend`` hides whether the tables live on a ClickHouse server
(``DriverBackend``) or in embedded chdb (``ChdbBackend``); ``apply_migrations`` brings a
database to the DDL of ``infra/clickhouse/migrations/``; ``rows_of`` maps a decoded event to
its rows.
"""

from sinks.clickhouse.backend import AnalyticsBackend, ChdbBackend, DriverBackend, QueryResult
from sinks.clickhouse.migrations import apply_migrations, load_migrations
from sinks.clickhouse.rows import STORED_EVENTS, TABLES, rows_of

__all__ = [
    "STORED_EVENTS",
    "TABLES",
    "AnalyticsBackend",
    "ChdbBackend",
    "DriverBackend",
    "QueryResult",
    "apply_migrations",
    "load_migrations",
    "rows_of",
]
