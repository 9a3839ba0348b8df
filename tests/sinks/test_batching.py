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
    apply_migrations(chdb_backend)
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
    apply_migrations(chdb_backend)
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


def test_an_event_with_a_value_out_of_range_is_refused_whole_and_its_offset_moves(
    chdb_backend: AnalyticsBackend,
) -> None:
    apply_migrations(chdb_backend)
    sink = BatchingSink(backend=chdb_backend)
    frame = ("e1", 1, 1000, "hq", "1", "f", "m", 1.0, 640, 480, 1, 1)
    hostile = [
        ("detection_frames", (*frame[:8], -5, *frame[9:])),
        ("detections", ("e1", 1, 1000, "hq", "1", "f", "m", "o0", "usb_stick", 0.9, 0, 0, 1, 1, 1)),
    ]  # fmt: skip
    refusal = sink.add(("det", 0), 7, hostile, origin="message 7")
    assert refusal is not None
    assert (refusal.origin, refusal.table) == ("message 7", "detection_frames")
    assert refusal.reason == "image_width: -5 is outside UInt32 [0, 4294967295]"
    assert sink.add(("det", 0), 8, [("detection_frames", frame)], origin="message 8") is None
    assert sink.buffered_rows == 1  # not the hostile event's detections row either
    result = sink.flush()
    assert result.offsets == {("det", 0): 9}
    assert result.rows == {"detection_frames": 1}
    stored = chdb_backend.query("SELECT event_id, image_width FROM detection_frames FINAL")
    assert stored.rows == [("e1", 640)]


def test_a_block_the_engine_refuses_is_halved_until_the_refused_rows_stand_alone(
    chdb_backend: AnalyticsBackend,
) -> None:
    """2**63 fits UInt64, so it passes the checks, but chdb's Arrow path takes signed 64-bit
    integers only: a refusal by the engine itself, found among 100 rows."""
    apply_migrations(chdb_backend)
    sink = BatchingSink(backend=chdb_backend)
    for offset in range(100):
        table, row = _dead_letter_row(f"e{offset}")
        if offset in (13, 77):
            row = (*row[:8], 2**63, *row[9:])
        assert sink.add(("dl", 0), offset, [(table, row)], origin=offset) is None
    result = sink.flush()
    assert [refusal.origin for refusal in result.refused] == [13, 77]
    assert "do not convert to Arrow" in result.refused[0].reason
    assert result.rows == {"dead_letters": 98}
    assert result.offsets == {("dl", 0): 100}
    assert chdb_backend.query("SELECT count() FROM dead_letters FINAL").rows == [(98,)]


def test_a_block_of_too_many_months_goes_in_as_smaller_blocks(backend: AnalyticsBackend) -> None:
    """Forged event times can spread one block over more months than ClickHouse takes in
    one insert (100 partitions); nothing is wrong with any row, so every row lands."""
    apply_migrations(backend)
    sink = BatchingSink(backend=backend)
    month_s = 31 * 86_400
    for offset in range(150):
        table, row = _dead_letter_row(f"e{offset}")
        at = 1_000_000_000 + offset * month_s
        sink.add(("dl", 0), offset, [(table, (row[0], at, at * 1000, *row[3:]))], origin=offset)
    result = sink.flush()
    assert result.refused == ()
    assert result.rows == {"dead_letters": 150}
    assert backend.query("SELECT count() FROM dead_letters FINAL").rows == [(150,)]


def test_refusals_found_before_an_outage_come_back_with_the_flush_that_succeeds(
    chdb_backend: AnalyticsBackend,
) -> None:
    """Their offsets are committed with the rest, so they must not be lost in between."""
    apply_migrations(chdb_backend)
    backend = _Outage(chdb_backend)
    sink = BatchingSink(backend=backend)
    table, row = _dead_letter_row("bad")
    sink.add(("dl", 0), 0, [(table, (*row[:8], 2**63, *row[9:]))], origin="bad")
    sink.add(("dl", 0), 1, [_dead_letter_row("good")], origin="good")
    sink.add(("ms", 0), 0, [_model_status_row("m")], origin="m")
    backend.down_tables = {"model_status"}
    with pytest.raises(BackpressureError):
        sink.flush()
    backend.down_tables = set()
    result = sink.flush()
    assert [refusal.origin for refusal in result.refused] == ["bad"]
    assert result.offsets == {("dl", 0): 2, ("ms", 0): 1}
