"""The ClickHouse data source's time macros, expanded the way the Grafana plugin does.

Panel queries filter with ``$__timeFilter(column)``; Grafana's ClickHouse plugin replaces it
with ``column >= toDateTime(<from>) AND column <= toDateTime(<to>)`` (epoch seconds) before
sending the query. Tests, and anything else that runs panel queries outside Grafana (the
console's overview page), expand it here with the same text.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

__all__ = ["expand_macros"]

_TIME_FILTER: Final = re.compile(r"\$__timeFilter\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")


def expand_macros(sql: str, *, start: datetime, end: datetime) -> str:
    """``sql`` with ``$__timeFilter``, ``$__fromTime`` and ``$__toTime`` replaced.

    ``start`` and ``end`` must be timezone-aware; a naive datetime would shift by the
    local offset.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    first, last = int(start.timestamp()), int(end.timestamp())
    sql = _TIME_FILTER.sub(
        lambda m: f"{m.group(1)} >= toDateTime({first}) AND {m.group(1)} <= toDateTime({last})",
        sql,
    )
    return sql.replace("$__fromTime", f"toDateTime({first})").replace(
        "$__toTime", f"toDateTime({last})"
    )
