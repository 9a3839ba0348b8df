"""Batches of rows per table, and the offsets they cover, flushed together or not at all.

The model is Quix Streams' batching sink: rows are buffered per table up to a size bound
(``max_batch_rows``, a full table may be inserted alone) and a time bound
(``flush_interval_s``); a full flush inserts every buffered table and only then hands back
the Kafka offsets it covers, for the caller to commit. A
flush that finds the store unavailable raises :class:`~sinks.exceptions.BackpressureError`
with ``retry_after_s`` from an exponential back-off and keeps the tables it could not
write; tables already written are not written again, and if the process dies before the
commit, the redelivered rows collapse in ``ReplacingMergeTree``. Nothing here knows Kafka:
offsets are opaque ``(topic, partition) -> next offset`` pairs, so the logic is tested
without a broker.

A row the store would refuse never holds a batch up. :meth:`BatchingSink.add` checks each
event's rows against the column types (:class:`~sinks.clickhouse.columns.RowChecks`) and
buffers none of them when one does not fit, handing back a :class:`Refusal` for the caller
to dead-letter. Should the store still refuse a block's values, the block is halved until
the refused rows stand alone; the rest goes in, and each refused row comes back as a
:class:`Refusal` with the ``origin`` its event was added with (rows of that event already
in other tables stay).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.columns import RowChecks
from sinks.clickhouse.rows import TABLES, Row
from sinks.exceptions import AnalyticsUnavailableError, BackpressureError, ValuesRefusedError

__all__ = ["Backoff", "BatchingSink", "FlushResult", "Refusal", "TopicPartition"]

TopicPartition = tuple[str, int]

#: Rows per table per insert: ClickHouse wants big blocks (each insert makes a part), and
#: 10,000 rows of these narrow tables are a few MB in Python, bounding the sink's memory.
DEFAULT_MAX_BATCH_ROWS: Final = 10_000
#: Oldest buffered row waits at most this long: dashboards refresh every few seconds.
DEFAULT_FLUSH_INTERVAL_S: Final = 1.0
#: First retry after an unavailable store: a restarting server answers within a second.
DEFAULT_RETRY_INITIAL_S: Final = 0.5
#: Longest back-off: an outage is noticed within 10 s of the store coming back.
DEFAULT_RETRY_MAX_S: Final = 10.0


@dataclass
class Backoff:
    """Exponential back-off: ``initial_s``, doubling, capped at ``max_s``; reset on success."""

    initial_s: float = DEFAULT_RETRY_INITIAL_S
    max_s: float = DEFAULT_RETRY_MAX_S
    _next_s: float = field(default=0.0, init=False)

    def next_delay_s(self) -> float:
        """The delay before the next attempt, growing with every failure."""
        delay = self._next_s or self.initial_s
        self._next_s = min(delay * 2, self.max_s)
        return delay

    def reset(self) -> None:
        """Forget past failures."""
        self._next_s = 0.0


@dataclass(frozen=True)
class Refusal:
    """An event with a row the store would not take (or did not): dead-letter it.

    ``origin`` is what the event was added with (the worker's Kafka message, whose bytes
    the dead letter keeps); ``reason`` says which column refused what.
    """

    origin: Any
    table: str
    reason: str


@dataclass(frozen=True)
class FlushResult:
    """Rows written per table by one flush, the offsets now safe to commit, and the events
    whose rows the store refused (to be dead-lettered before those offsets are committed)."""

    rows: Mapping[str, int]
    offsets: Mapping[TopicPartition, int]
    refused: tuple[Refusal, ...] = ()


class BatchingSink:
    """Buffers rows per table with the offsets they came from; see the module docstring.

    Keyword-only options: ``backend`` (where rows go), ``max_batch_rows`` per table,
    ``flush_interval_s``, ``backoff``, ``clock`` (monotonic seconds, injected in tests) and
    ``checks`` (the column types rows must fit; read from ``backend``'s tables when absent,
    so they must exist: apply the migrations first).
    """

    def __init__(
        self,
        *,
        backend: AnalyticsBackend,
        max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        checks: RowChecks | None = None,
    ) -> None:
        if max_batch_rows < 1 or flush_interval_s <= 0:
            raise ValueError("max_batch_rows must be >= 1 and flush_interval_s > 0")
        self._backend = backend
        self.max_batch_rows = max_batch_rows
        self.flush_interval_s = flush_interval_s
        self._backoff = backoff if backoff is not None else Backoff()
        self._clock = clock
        self._checks = checks if checks is not None else RowChecks.from_backend(backend)
        self._tables: dict[str, list[Row]] = {}
        self._origins: dict[str, list[Any]] = {}  # beside each table's rows, one per row
        self._full: set[str] = set()  # tables at max_batch_rows, kept by add(): full() is O(1)
        self._offsets: dict[TopicPartition, int] = {}
        self._since: float | None = None
        # Found while a flush wrote a table, kept until a flush returns: a later table's
        # outage must not lose them, since their offsets are committed with the rest.
        self._refused: list[Refusal] = []

    @property
    def buffered_rows(self) -> int:
        """Rows waiting for the next flush, all tables together."""
        return sum(len(rows) for rows in self._tables.values())

    @property
    def pending_offsets(self) -> Mapping[TopicPartition, int]:
        """Next offset per partition once the buffered rows are written."""
        return dict(self._offsets)

    def add(
        self,
        source: TopicPartition,
        offset: int,
        rows: Sequence[tuple[str, Row]],
        *,
        origin: Any = None,
    ) -> Refusal | None:
        """Buffer the rows of the message at ``offset`` of ``source`` (maybe none of them).

        When a row does not fit its columns, none of the message's rows is buffered and the
        :class:`Refusal` is returned, for the caller to dead-letter ``origin``. A message
        without rows (dead-lettered, refused) still moves the offset, so it is committed
        with the next flush and never read again.
        """
        refusal = next(
            (
                Refusal(origin=origin, table=table, reason=reason)
                for table, row in rows
                if (reason := self._checks.refusal(table, row)) is not None
            ),
            None,
        )
        if refusal is None:
            for table, row in rows:
                buffer = self._tables.setdefault(table, [])
                buffer.append(row)
                self._origins.setdefault(table, []).append(origin)
                if len(buffer) >= self.max_batch_rows:
                    self._full.add(table)
        self._offsets[source] = offset + 1
        if self._since is None:
            self._since = self._clock()
        return refusal

    def due(self) -> bool:
        """Whether the oldest buffered message waited ``flush_interval_s``: time to flush
        every table and commit."""
        return self._since is not None and self._clock() - self._since >= self.flush_interval_s

    def full(self) -> bool:
        """Whether a table is at its size bound: take no more messages before a flush."""
        return bool(self._full)

    def flush(self, *, only_full: bool = False) -> FlushResult:
        """Insert every buffered table; return the rows written and the offsets to commit.

        ``only_full`` writes just the tables at ``max_batch_rows`` and commits nothing (the
        other tables still hold rows of those offsets): a busy table goes out in full
        blocks while quiet ones keep filling until the time bound, instead of every table
        being cut into small inserts whenever one fills up.

        Raises :class:`BackpressureError` when the store is unavailable (a full disk
        included); the tables not yet written stay buffered for the next attempt.
        """
        written: dict[str, int] = {}
        tables = [
            table
            for table, rows in self._tables.items()
            if not only_full or len(rows) >= self.max_batch_rows
        ]
        for table in tables:
            rows, origins = self._tables[table], self._origins[table]
            try:
                refused = self._insert(table, rows, origins)
            except AnalyticsUnavailableError as exc:
                retry_after_s = self._backoff.next_delay_s()
                raise BackpressureError(
                    f"{exc}; {self.buffered_rows} rows wait, retry in {retry_after_s:.1f} s",
                    retry_after_s=retry_after_s,
                ) from exc
            self._refused.extend(refused)
            written[table] = len(rows) - len(refused)
            del self._tables[table], self._origins[table]
            self._full.discard(table)
        self._backoff.reset()
        refusals, self._refused = tuple(self._refused), []
        if only_full:
            return FlushResult(rows=written, offsets={}, refused=refusals)
        offsets, self._offsets, self._since = self._offsets, {}, None
        return FlushResult(rows=written, offsets=offsets, refused=refusals)

    def _insert(self, table: str, rows: list[Row], origins: list[Any]) -> list[Refusal]:
        """Insert ``rows``; when the store refuses their values, insert each half alone, down
        to single rows, and return the rows refused on their own (one insert for a clean
        block, about 2 log2(n) more per refused row)."""
        try:
            self._backend.insert(table, TABLES[table], rows)
        except ValuesRefusedError as exc:
            if len(rows) == 1:
                return [Refusal(origin=origins[0], table=table, reason=str(exc))]
            half = len(rows) // 2
            return self._insert(table, rows[:half], origins[:half]) + self._insert(
                table, rows[half:], origins[half:]
            )
        return []

    def discard(self) -> None:
        """Drop everything buffered (partitions revoked: the next owner reads it again)."""
        self._tables.clear()
        self._origins.clear()
        self._full.clear()
        self._offsets.clear()
        self._refused.clear()
        self._since = None
