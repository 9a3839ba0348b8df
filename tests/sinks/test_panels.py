"""Every dashboard query runs on both engines against seeded data, non-empty and typed."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import timedelta

import pytest

from schemas import Codec
from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.migrations import apply_migrations
from sinks.clickhouse.rows import TABLES, Row, rows_of
from sinks.clickhouse.samples import START, sample_events
from sinks.dashboards.macros import expand_macros
from sinks.dashboards.panels import ANNOTATIONS, PANELS, ColumnKind

CODEC = Codec()
_KIND_OF_TYPE = (
    (re.compile(r"(Nullable\()?DateTime"), "time"),
    (re.compile(r"(Nullable\()?(U?Int\d+|Float\d+)"), "number"),
    (re.compile(r"(Nullable\()?String"), "string"),
)


def _kind(clickhouse_type: str) -> ColumnKind | None:
    for pattern, kind in _KIND_OF_TYPE:
        if pattern.match(clickhouse_type):
            return kind  # type: ignore[return-value]
    return None


def _seed(backend: AnalyticsBackend) -> None:
    apply_migrations(backend)
    batches: defaultdict[str, list[Row]] = defaultdict(list)
    for event in sample_events(frames=600):
        name = type(event).__name__
        for table, row in rows_of(name, CODEC.decode_record(CODEC.encode(event), name)):
            batches[table].append(row)
    for table, rows in batches.items():
        backend.insert(table, TABLES[table], rows)


def test_every_panel_query_returns_typed_rows(backend: AnalyticsBackend) -> None:
    _seed(backend)
    queries = [(p.title, p.sql, p.columns) for p in PANELS]
    queries += [(a.name, a.sql, a.columns) for a in ANNOTATIONS]
    for title, sql, columns in queries:
        result = backend.query(expand_macros(sql, start=START, end=START + timedelta(days=1)))
        assert result.rows, title
        assert result.columns == tuple(name for name, _ in columns), title
        assert tuple(_kind(t) for t in result.types) == tuple(k for _, k in columns), title


def test_the_time_filter_excludes_rows_outside_the_range(backend: AnalyticsBackend) -> None:
    _seed(backend)
    before = START - timedelta(days=2)
    throughput = PANELS[0]
    sql = expand_macros(throughput.sql, start=before, end=before + timedelta(hours=1))
    assert backend.query(sql).rows == []


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        expand_macros("SELECT 1", start=START.replace(tzinfo=None), end=START)
