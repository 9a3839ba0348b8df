"""What an engine's error means to the sink: wait and retry, dead-letter the rows, or stop.

Both engines report ClickHouse's error codes (``clickhouse-driver`` as the exception's
``code``, chdb only in its text, ``Code: 243. DB::Exception: ...``), and the sink needs one
of three answers from them:

- **the store cannot take it now** (down, busy, out of memory, out of disk):
  :class:`~sinks.exceptions.AnalyticsUnavailableError`; the sink keeps its batch, backs off
  and retries, and commits nothing;
- **the store refused the values** (out of the column type's range, unparsable, NULL
  where none may be): :class:`~sinks.exceptions.ValuesRefusedError`; the rows are at fault,
  so the sink finds them and dead-letters their events;
- **anything else** (unknown table or column, bad SQL): :class:`~sinks.exceptions.QueryError`,
  a fault of the deployment that neither a retry nor a dead letter mends, so it stops the
  sink where an operator sees it.
"""

from __future__ import annotations

import re
from typing import Final

from sinks.exceptions import (
    AnalyticsUnavailableError,
    QueryError,
    SinkError,
    ValuesRefusedError,
)

__all__ = ["chdb_error_code", "engine_error", "excerpt"]

#: Codes that mean "try again later": 159 timeout, 202 too many simultaneous queries,
#: 209 socket timeout, 210 network error, 241 memory limit, 243 not enough disk space,
#: 252 too many parts (merges catch up), 319 unknown status of insert.
TRANSIENT_CODES: Final = frozenset({159, 202, 209, 210, 241, 243, 252, 319})
#: Codes that mean "these values do not fit these columns": 6 cannot parse text,
#: 27 parse assertion, 38 cannot parse date, 41 cannot parse datetime, 53 type mismatch
#: (also the driver's own check before sending), 69 argument out of bound, 70 cannot
#: convert type, 72 cannot parse number, 117 incorrect data, 131 string too large,
#: 321 value out of the type's range, 349 NULL in a column that is not Nullable.
VALUE_CODES: Final = frozenset({6, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349})
#: A full disk reads differently by where the write failed: the reservation before an
#: insert (code 243), or a write that got ENOSPC (errno 28) under another code.
_DISK_FULL: Final = re.compile(r"errno: 28\b|No space left on device|not enough space", re.I)
#: Code 252 also says that one block spans more than ``max_partitions_per_insert_block``
#: months (forged event times can): the rows' fault, and smaller blocks of them go in.
_TOO_MANY_PARTITIONS: Final = "Too many partitions for single INSERT block"
#: ``Code: 60. DB::Exception: ...``: how chdb's exceptions name the ClickHouse code.
_CHDB_CODE: Final = re.compile(r"\bCode: (\d+)\.")
#: Longest statement excerpt copied into an error message.
_MAX_SQL_CHARS: Final = 200


def excerpt(sql: str) -> str:
    """``sql`` on one line, cut to a length an error message can carry."""
    flat = " ".join(sql.split())
    return flat if len(flat) <= _MAX_SQL_CHARS else flat[:_MAX_SQL_CHARS] + "..."


def chdb_error_code(text: str) -> int | None:
    """The ClickHouse error code a chdb exception's ``text`` names, or None."""
    match = _CHDB_CODE.search(text)
    return None if match is None else int(match.group(1))


def engine_error(code: int | None, text: str, *, sql: str) -> SinkError:
    """The sink's error for an engine error with ClickHouse ``code`` (None when it has
    none) and message ``text`` while running ``sql``; see the module docstring."""
    lines = text.strip().splitlines()
    summary = " ".join(lines[:2]) if lines else f"error code {code}"
    if code == 252 and _TOO_MANY_PARTITIONS in text:
        return ValuesRefusedError(f"{summary} in: {excerpt(sql)}")
    if _DISK_FULL.search(text):
        return AnalyticsUnavailableError(f"ClickHouse is out of disk space: {summary}")
    if code in TRANSIENT_CODES:
        return AnalyticsUnavailableError(f"ClickHouse busy (code {code}): {summary}")
    if code in VALUE_CODES:
        return ValuesRefusedError(f"{summary} in: {excerpt(sql)}")
    return QueryError(f"{summary} in: {excerpt(sql)}")
