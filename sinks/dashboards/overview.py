"""The managers' overview: the Grafana dashboard's panels, run for the console's page.

The panels are declared once in ``sinks.dashboards.panels`` (title, SQL, visualisation);
this module runs exactly that SQL, with the Grafana time macros expanded by
``sinks.dashboards.macros`` the way the ClickHouse data source does, and hands the rows to
the page as JSON. A manager sees the same numbers on the console as on Grafana, and a site
without Grafana still has them. Headline counts are sums over the same panels' rows.

Time series bucket by the interval Grafana would pick for the window
(:func:`sinks.dashboards.macros.bucket_seconds`), computed over the part of the window that
holds data: "the last 24 hours" of an installation started three minutes ago is bucketed
as three minutes (seconds per bucket), so its first minutes read as curves, not one dot.

A failing panel (ClickHouse down, table not migrated yet) shows its error; the others still
render.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sinks.clickhouse.backend import AnalyticsBackend, QueryResult
from sinks.dashboards.macros import bucket_seconds, expand_macros
from sinks.dashboards.panels import DATA_START_SQL, PANELS, Panel
from sinks.exceptions import SinkError

__all__ = ["LockedBackend", "Overview", "PanelResult", "run_overview"]

_THROUGHPUT: Final = "Checkpoint throughput"
_OUTCOMES: Final = "TP / FP / FN per class"
_UNREVIEWED: Final = "Unreviewed alarms"


class LockedBackend:
    """An analytics backend used by several threads one statement at a time.

    Neither a chdb session nor a ``clickhouse-driver`` connection may run two statements at
    once; the console's in-process sink and its overview requests share one through this.
    """

    def __init__(self, backend: AnalyticsBackend) -> None:
        self._backend = backend
        self._lock = threading.Lock()

    @property
    def database(self) -> str:
        """Database holding leakguard's tables."""
        return self._backend.database

    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing."""
        with self._lock:
            self._backend.execute(sql)

    def query(self, sql: str) -> QueryResult:
        """Run a ``SELECT``."""
        with self._lock:
            return self._backend.query(sql)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` as one block."""
        with self._lock:
            self._backend.insert(table, columns, rows)

    def close(self) -> None:
        """Close the wrapped backend."""
        with self._lock:
            self._backend.close()


@dataclass(frozen=True, slots=True)
class PanelResult:
    """One panel's declaration and its rows (JSON-ready), or the error that stopped it."""

    panel: Panel
    rows: list[list[Any]] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """What the overview page draws from."""
        return {
            "title": self.panel.title,
            "description": self.panel.description,
            "empty": self.panel.empty,
            "visualisation": self.panel.visualisation,
            "unit": self.panel.unit,
            "counts": self.panel.counts,
            "columns": [{"name": name, "kind": kind} for name, kind in self.panel.columns],
            "rows": self.rows,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Overview:
    """Every panel over ``[start, end]`` and the headline numbers summed from them.

    ``data_start`` is the window's first frame (``None`` without frames); time series are
    bucketed by ``interval_s`` seconds.
    """

    start: datetime
    end: datetime
    panels: tuple[PanelResult, ...]
    interval_s: int
    data_start: datetime | None = None

    def headline(self) -> dict[str, Any]:
        """Frames, unreviewed alarms and TP/FP/FN objects per class over the window."""
        rows = {result.panel.title: result.rows for result in self.panels}
        frames = sum(row[2] for row in rows.get(_THROUGHPUT, []))
        per_class: dict[str, dict[str, int]] = {}
        for _, series, objects in rows.get(_OUTCOMES, []):
            class_name, kind = str(series).rsplit(" ", 1)
            counts = per_class.setdefault(class_name, {"tp": 0, "fp": 0, "fn": 0})
            counts[kind] += int(objects)
        unreviewed = rows.get(_UNREVIEWED, [])
        return {
            "frames": frames,
            "unreviewed_alarms": unreviewed[0][0] if unreviewed else None,
            "outcomes_per_class": per_class,
        }

    def as_json(self) -> dict[str, Any]:
        """The page's whole payload."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "data_start": None if self.data_start is None else self.data_start.isoformat(),
            "interval_s": self.interval_s,
            "headline": self.headline(),
            "panels": [result.as_json() for result in self.panels],
        }


def run_overview(
    backend: AnalyticsBackend,
    *,
    end: datetime | None = None,
    window: timedelta = timedelta(hours=24),
    panels: tuple[Panel, ...] = PANELS,
) -> Overview:
    """Run every panel's SQL over the ``window`` before ``end`` (default now)."""
    end = end if end is not None else datetime.now(UTC)
    start = end - window
    data_start = _data_start(backend, start=start, end=end)
    interval_s = bucket_seconds(data_start or start, end)
    results = []
    for panel in panels:
        sql = expand_macros(panel.sql, start=start, end=end, interval_s=interval_s)
        try:
            result = backend.query(sql)
        except SinkError as exc:
            results.append(PanelResult(panel, error=str(exc)))
            continue
        results.append(PanelResult(panel, rows=[[_json(v) for v in row] for row in result.rows]))
    return Overview(
        start=start, end=end, panels=tuple(results), interval_s=interval_s, data_start=data_start
    )


def overview_source(backend: AnalyticsBackend) -> Callable[[timedelta], dict[str, Any]]:
    """The overview as a function of its window ending now, in the JSON the console serves:
    the form in which the wiring hands it to the console, which holds no analytics code."""
    return lambda window: run_overview(backend, window=window).as_json()


def _data_start(backend: AnalyticsBackend, *, start: datetime, end: datetime) -> datetime | None:
    """The first frame in ``[start, end]``; ``None`` when there is none or it cannot be
    read (the panels then report the error themselves)."""
    try:
        rows = backend.query(expand_macros(DATA_START_SQL, start=start, end=end)).rows
    except SinkError:
        return None
    if not rows or not rows[0][0]:
        return None
    first: datetime = rows[0][1]
    return first if first.tzinfo else first.replace(tzinfo=UTC)


def _json(value: Any) -> Any:
    """A result value as JSON: times as ISO text in UTC (results hold naive UTC)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value
