"""Seeds an analytics store with the sample events, for tests that query it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from schemas import Codec, Event
from sinks.clickhouse.backend import AnalyticsBackend, ChdbBackend
from sinks.clickhouse.migrations import apply_migrations
from sinks.clickhouse.rows import TABLES, Row, rows_of
from tests.sinks.samples import FRAME_INTERVAL, START, sample_events

CODEC = Codec()


def seed_sample_events(
    backend: AnalyticsBackend, *, frames: int = 600, start: datetime = START
) -> None:
    """Migrate ``backend`` and insert the rows of ``frames`` sample frames from ``start``."""
    seed_events(backend, sample_events(frames=frames, start=start))


def seed_events(backend: AnalyticsBackend, events: Iterable[Event]) -> None:
    """Migrate ``backend`` and insert the rows of ``events``, as the sink would."""
    apply_migrations(backend)
    insert_events(backend, events)


def insert_events(backend: AnalyticsBackend, events: Iterable[Event]) -> None:
    """Insert the rows of ``events`` into tables that exist already, as the sink would."""
    batches: defaultdict[str, list[Row]] = defaultdict(list)
    for event in events:
        name = type(event).__name__
        for table, row in rows_of(name, CODEC.decode_record(CODEC.encode(event), name)):
            batches[table].append(row)
    for table, rows in batches.items():
        backend.insert(table, TABLES[table], rows)


def seed_recent(backend: ChdbBackend, *, frames: int, end: datetime) -> datetime:
    """``frames`` sample frames (7 s apart) ending just before ``end``; their first time."""
    start = end - frames * FRAME_INTERVAL
    seed_sample_events(backend, frames=frames, start=start)
    return start
