"""Every dashboard query runs on both engines against seeded data, non-empty and typed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from sinks.clickhouse.backend import AnalyticsBackend
from sinks.dashboards.macros import expand_macros
from sinks.dashboards.panels import ANNOTATIONS, PANELS, ColumnKind
from tests.sinks.samples import START
from tests.sinks.seeding import seed_sample_events

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


def test_every_panel_query_returns_typed_rows(backend: AnalyticsBackend) -> None:
    seed_sample_events(backend)
    queries = [(p.title, p.sql, p.columns) for p in PANELS]
    queries += [(a.name, a.sql, a.columns) for a in ANNOTATIONS]
    for title, sql, columns in queries:
        result = backend.query(expand_macros(sql, start=START, end=START + timedelta(days=1)))
        assert result.rows, title
        assert result.columns == tuple(name for name, _ in columns), title
        assert tuple(_kind(t) for t in result.types) == tuple(k for _, k in columns), title


def test_the_time_filter_excludes_rows_outside_the_range(backend: AnalyticsBackend) -> None:
    seed_sample_events(backend)
    before = START - timedelta(days=2)
    throughput = PANELS[0]
    sql = expand_macros(throughput.sql, start=before, end=before + timedelta(hours=1))
    assert backend.query(sql).rows == []


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        expand_macros("SELECT 1", start=START.replace(tzinfo=None), end=START)
