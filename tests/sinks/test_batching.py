"""The batching rules without Kafka: size and time bounds, all-or-nothing offsets, back-off."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from sinks.clickhouse.backend import AnalyticsBackend, QueryResult
from sinks.clickhouse.batching import Backoff, BatchingSink
from sinks.clickhouse.migrations import apply_migrations
from sinks.exceptions import AnalyticsUnavailableError, BackpressureError


class _Outage:
    """The real chdb backend behind a switch that makes inserts into some tables fail."""

    def __init__(self, backend: AnalyticsBackend) -> None:
        self._backend = backend
        self.down_tables: set[str] = set()

    @property
    def database(self) -> str:
        return self._backend.database

    def execute(self, sql: str) -> None:
        self._backend.execute(sql)

    def query(self, sql: str) -> QueryResult:
        return self._backend.query(sql)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if table in self.down_tables:
            raise AnalyticsUnavailableError("connection refused")
        self._backend.insert(table, columns, rows)

    def close(self) -> None:
        self._backend.close()


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _model_status_row(event_id: str) -> tuple[str, tuple[Any, ...]]:
    return (
        "model_status",
        (
            event_id,
            1_700_000_000,
            1_700_000_000_000,
            "hq",
            None,
            "w",
            "m1",
            "active",
            *[None] * 4,
            0,
        ),
    )


def _dead_letter_row(event_id: str) -> tuple[str, tuple[Any, ...]]:
    return (
        "dead_letters",
        (event_id, 1_700_000_000, 1_700_000_000_000, "detections", 0, 1, "E", "bad", 2, "w"),
    )


def test_size_and_time_bounds_make_a_batch_due(chdb_backend: AnalyticsBackend) -> None:
    clock = _Clock()
    sink = BatchingSink(backend=chdb_backend, max_batch_rows=2, flush_interval_s=1.0, clock=clock)
    assert not sink.due()
    sink.add(("t", 0), 10, [_dead_letter_row("a")])
    assert not sink.due()
    clock.now = 1.0
    assert sink.due()
    sink.add(("t", 0), 11, [_dead_letter_row("b")])
    assert sink.full()


def test_offsets_come_back_only_when_every_table_was_written(
    chdb_backend: AnalyticsBackend,
) -> None:
    apply_migrations(chdb_backend)
    backend = _Outage(chdb_backend)
    backoff = Backoff(initial_s=0.5, max_s=2.0)
    sink = BatchingSink(backend=backend, backoff=backoff)
    sink.add(("dl", 0), 4, [_dead_letter_row("a")])
    sink.add(("ms", 0), 9, [_model_status_row("b")])
    sink.add(("dl", 0), 5, [])  # a dead-lettered message: no rows, the offset still moves
    backend.down_tables = {"model_status"}
    delays = []
    for _ in range(4):
        with pytest.raises(BackpressureError) as info:
            sink.flush()
        delays.append(info.value.retry_after_s)
    assert delays == [0.5, 1.0, 2.0, 2.0]
    assert sink.buffered_rows == 1  # dead_letters was written, model_status waits
    assert sink.pending_offsets == {("dl", 0): 6, ("ms", 0): 10}
    backend.down_tables = set()
    result = sink.flush()
    assert result.offsets == {("dl", 0): 6, ("ms", 0): 10}
    assert result.rows == {"model_status": 1}
    assert sink.buffered_rows == 0
    for table in ("dead_letters", "model_status"):
        assert chdb_backend.query(f"SELECT count() FROM {table} FINAL").rows == [(1,)]
    assert backoff.next_delay_s() == 0.5  # reset by the success


def test_discard_forgets_rows_and_offsets(chdb_backend: AnalyticsBackend) -> None:
    sink = BatchingSink(backend=chdb_backend)
    sink.add(("t", 0), 1, [_dead_letter_row("a")])
    sink.discard()
    assert sink.buffered_rows == 0
    assert sink.pending_offsets == {}
    assert not sink.due()


def test_a_full_table_goes_out_alone_and_commits_nothing(chdb_backend: AnalyticsBackend) -> None:
    apply_migrations(chdb_backend)
    sink = BatchingSink(backend=chdb_backend, max_batch_rows=2)
    sink.add(("dl", 0), 0, [_dead_letter_row("a")])
    sink.add(("ms", 0), 0, [_model_status_row("b")])
    sink.add(("dl", 0), 1, [_dead_letter_row("c")])
    assert sink.full()
    early = sink.flush(only_full=True)
    assert early.rows == {"dead_letters": 2}
    assert early.offsets == {}  # model_status still holds a row of these offsets
    assert sink.pending_offsets == {("dl", 0): 2, ("ms", 0): 1}
    final = sink.flush()
    assert final.rows == {"model_status": 1}
    assert final.offsets == {("dl", 0): 2, ("ms", 0): 1}
