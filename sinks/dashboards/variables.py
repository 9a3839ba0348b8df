"""The business dashboard's template variables: ``$checkpoint`` and ``$lane``.

A site manager looks at their own checkpoints, so every panel filters by both variables,
each a multi-select with "All". Grafana substitutes ``${checkpoint:singlequote}`` with the
selected values quoted and comma-separated (``'hq','dock'``); "All" substitutes the
variable's custom all value, the sentinel :data:`ALL` quoted, unformatted. A filter
therefore reads ``('__all__' IN (...) OR checkpoint IN (...))``: "All" matches every row,
also the rows of a checkpoint the variable's option list has not seen yet, and the text is
one plain ``IN`` that ClickHouse 18.16 and chdb both take.
:func:`sinks.dashboards.macros.expand_macros` substitutes the same text outside Grafana.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "ALL",
    "CHECKPOINT",
    "LANE",
    "VARIABLES",
    "Variable",
    "all_of",
    "by_place",
    "placeholder",
]

#: The custom all value's text: no checkpoint or lane is called this.
ALL: Final = "__all__"


@dataclass(frozen=True, kw_only=True)
class Variable:
    """One multi-select variable: its name, label and the query listing its options."""

    name: str
    label: str
    sql: str


def placeholder(name: str) -> str:
    """Where Grafana puts the variable's selection, each value single-quoted."""
    return f"${{{name}:singlequote}}"


def all_of(name: str, column: str) -> str:
    """SQL true when ``column`` holds one of the selected values or "All" is selected."""
    values = placeholder(name)
    return f"('{ALL}' IN ({values}) OR {column} IN ({values}))"


CHECKPOINT: Final = Variable(
    name="checkpoint",
    label="Checkpoint",
    sql="""SELECT DISTINCT checkpoint
FROM detection_frames
WHERE $__timeFilter(event_time)
ORDER BY checkpoint""",
)

#: Lanes of the selected checkpoints only, so the list stays short on a large fleet.
LANE: Final = Variable(
    name="lane",
    label="Lane",
    sql=f"""SELECT DISTINCT lane
FROM detection_frames
WHERE $__timeFilter(event_time) AND {all_of("checkpoint", "checkpoint")}
ORDER BY lane""",
)

VARIABLES: Final[tuple[Variable, ...]] = (CHECKPOINT, LANE)


def by_place(checkpoint: str = "checkpoint", lane: str = "lane") -> str:
    """The filter of a table with a checkpoint and a lane column (or expression)."""
    return f"{all_of(CHECKPOINT.name, checkpoint)} AND {all_of(LANE.name, lane)}"
