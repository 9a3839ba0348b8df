"""The ClickHouse data source's macros, expanded the way the Grafana plugin does.

Panel queries filter with ``$__timeFilter(column)``; Grafana's ClickHouse plugin replaces it
with ``column >= toDateTime(<from>) AND column <= toDateTime(<to>)`` (epoch seconds) before
sending the query. Time series bucket by ``$__interval_s``: the interval Grafana derived from
the time range and the panel's ``maxDataPoints``, in whole seconds (at least 1). Tests, and
anything else that runs panel queries outside Grafana (the console's overview page), expand
them here with the same text and the same interval, so a window reads the same everywhere.
Template variables (``${checkpoint:singlequote}``) are substituted as Grafana does: the
selected values single-quoted, or the variable's all value when nothing narrows it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from sinks.dashboards.variables import ALL

__all__ = ["MAX_DATA_POINTS", "bucket_seconds", "expand_macros"]

#: Buckets a time series aims at over its window: enough for a curve, few enough that each
#: bucket of a 2-minute demo run still holds a few frames (5 s) and a day reads in hours.
MAX_DATA_POINTS: Final = 25

_TIME_FILTER: Final = re.compile(r"\$__timeFilter\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")
_INTERVAL_S: Final = re.compile(r"\$__interval_s\b")
_SINGLEQUOTED: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):singlequote\}")

#: Grafana's interval ladder (``roundInterval`` in ``@grafana/data``): an interval below
#: the first value of a row rounds to its second, milliseconds; anything longer is a year.
_LADDER_MS: Final[tuple[tuple[int, int], ...]] = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500),
    (1_500, 1_000), (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000),
    (25_000, 20_000), (45_000, 30_000), (90_000, 60_000), (210_000, 120_000),
    (450_000, 300_000), (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000),
    (2_700_000, 1_800_000), (5_400_000, 3_600_000), (9_000_000, 7_200_000),
    (16_200_000, 10_800_000), (32_400_000, 21_600_000), (86_400_000, 43_200_000),
    (604_800_000, 86_400_000), (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
)  # fmt: skip
_YEAR_MS: Final = 31_536_000_000


def bucket_seconds(
    start: datetime, end: datetime, *, max_data_points: int = MAX_DATA_POINTS
) -> int:
    """The ``$__interval_s`` Grafana sends for the range ``[start, end]``.

    Grafana divides the range by the panel's ``maxDataPoints``, rounds the result up the
    ladder of "nice" intervals (1 s, 2 s, 5 s, 10 s ... 1 h ... 12 h, 1 d) and the plugin
    floors it at one second.
    """
    if max_data_points < 1:
        raise ValueError(f"max_data_points must be at least 1, got {max_data_points}")
    raw_ms = (end - start).total_seconds() * 1000 / max_data_points
    rounded_ms = next((nice for below, nice in _LADDER_MS if raw_ms < below), _YEAR_MS)
    return max(1, rounded_ms // 1000)


def _quoted(values: Sequence[str]) -> str:
    """Grafana's ``singlequote`` format, with backslashes escaped too (ClickHouse reads
    ``\\`` in a string literal as an escape)."""
    return ",".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


def expand_macros(
    sql: str,
    *,
    start: datetime,
    end: datetime,
    interval_s: int | None = None,
    selections: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """``sql`` with ``$__timeFilter``, ``$__fromTime``, ``$__toTime``, ``$__interval_s``
    and the template variables replaced.

    ``start`` and ``end`` must be timezone-aware; a naive datetime would shift by the
    local offset. ``interval_s`` defaults to :func:`bucket_seconds` of the range.
    ``selections`` maps a variable's name to its selected values; a variable it does not
    name, or names with no value, is "All".
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if interval_s is None:
        interval_s = bucket_seconds(start, end)
    if interval_s < 1:
        raise ValueError(f"interval_s must be at least 1, got {interval_s}")
    first, last = int(start.timestamp()), int(end.timestamp())
    sql = _TIME_FILTER.sub(
        lambda m: f"{m.group(1)} >= toDateTime({first}) AND {m.group(1)} <= toDateTime({last})",
        sql,
    )
    sql = _INTERVAL_S.sub(str(interval_s), sql)
    chosen = selections or {}
    sql = _SINGLEQUOTED.sub(lambda m: _quoted(chosen.get(m.group(1)) or (ALL,)), sql)
    return sql.replace("$__fromTime", f"toDateTime({first})").replace(
        "$__toTime", f"toDateTime({last})"
    )
