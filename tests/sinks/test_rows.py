"""Events become the right rows: pure mapping first, then inserted on both engines."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas import ClassCorrection, Codec, GuardVerdict, ModelStatus, ModelUpdate
from schemas.examples import example_detection, example_scan_frame
from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.migrations import apply_migrations
from sinks.clickhouse.rows import EVENT_TABLES, STORED_EVENTS, TABLES, Row, rows_of
from sinks.exceptions import QueryError
from tests.sinks.samples import sample_events, sample_events_per_type

CODEC = Codec()


def _record(event: Any) -> dict[str, Any]:
    return CODEC.decode_record(CODEC.encode(event), type(event).__name__)


def _as_dict(table: str, row: Row) -> dict[str, Any]:
    return dict(zip(TABLES[table], row, strict=True))


def test_a_detection_gives_a_frame_row_and_one_row_per_object() -> None:
    detection = example_detection(objects=3)
    rows = rows_of("Detection", _record(detection))
    assert [table for table, _ in rows] == ["detection_frames"] + ["detections"] * 3
    frame = _as_dict(*rows[0])
    assert frame["object_count"] == 3
    assert frame["event_id"] == str(detection.event_id)
    assert frame["event_time_ms"] == round(detection.event_time.timestamp() * 1000)
    assert frame["event_time"] == frame["event_time_ms"] // 1000
    objects = [_as_dict(*row) for row in rows[1:]]
    assert [o["object_id"] for o in objects] == ["o0", "o1", "o2"]
    assert [o["alarmed"] for o in objects] == [0, 1, 0]


def test_a_detection_with_no_objects_still_counts_as_a_frame() -> None:
    rows = rows_of("Detection", _record(example_detection(objects=0)))
    assert [table for table, _ in rows] == ["detection_frames"]


def test_scanner_frames_are_not_stored_a_frame_counts_once_detected() -> None:
    """The sink never reads scanner.frames (whole images); a frame is its detection's row."""
    assert "ScanFrame" not in STORED_EVENTS
    with pytest.raises(KeyError):
        rows_of("ScanFrame", _record(example_scan_frame()))


def test_event_times_are_utc_epoch_values() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    detection = dataclasses.replace(example_detection(objects=0), event_time=at)
    row = _as_dict(*rows_of("Detection", _record(detection))[0])
    assert row["event_time"] == int(at.timestamp())
    assert row["event_time_ms"] == int(at.timestamp()) * 1000 + 678


def test_every_sample_event_maps_to_its_declared_tables() -> None:
    for event in sample_events(frames=200):
        name = type(event).__name__
        for table, row in rows_of(name, _record(event)):
            assert table in EVENT_TABLES[name]
            assert len(row) == len(TABLES[table])


def test_records_with_and_without_logical_types_give_the_same_rows() -> None:
    for event in sample_events(frames=200):
        name = type(event).__name__
        plain = CODEC.decode_record(CODEC.encode(event), name, logical_types=False)
        assert rows_of(name, plain) == rows_of(name, _record(event))


def test_a_verdict_row_keeps_the_response_time_and_the_reclassified_count() -> None:
    detection = example_detection(objects=4)
    verdict = GuardVerdict(
        checkpoint=detection.checkpoint,
        lane=detection.lane,
        frame_id=detection.frame_id,
        model_version=detection.model_version,
        detection_event_id=detection.event_id,
        guard_id="ana",
        decision="confirmed",
        rejected_object_ids=("o3",),
        response_ms=2140,
        class_corrections=(ClassCorrection(object_id="o1", class_name="tablet"),),
    )
    (table, row), *_ = rows_of("GuardVerdict", _record(verdict))
    mapped = _as_dict(table, row)
    assert (table, mapped["guard_id"], mapped["rejected_objects"]) == ("verdicts", "ana", 1)
    assert (mapped["response_ms"], mapped["reclassified_objects"]) == (2140, 1)
    # A verdict without them (a simulated guard, or v1 data read as v2) maps to NULL and 0.
    plain = dataclasses.replace(verdict, response_ms=None, class_corrections=())
    mapped = _as_dict(*rows_of("GuardVerdict", _record(plain))[0])
    assert (mapped["response_ms"], mapped["reclassified_objects"]) == (None, 0)


def test_a_model_status_row_says_whether_the_edge_rolled_the_model_back() -> None:
    status = ModelStatus(
        checkpoint="hq", worker_id="edge-1", model_version="v0005", state="rejected",
        error="false-alarm rate 1.00 > 0.30", rolled_back=True,
    )  # fmt: skip
    mapped = _as_dict(*rows_of("ModelStatus", _record(status))[0])
    assert (mapped["state"], mapped["rolled_back"]) == ("rejected", 1)
    refused = dataclasses.replace(status, error="weights SHA-256 differs", rolled_back=False)
    assert _as_dict(*rows_of("ModelStatus", _record(refused))[0])["rolled_back"] == 0


def test_sample_events_round_trip_exactly() -> None:
    """Sample times are whole milliseconds, so a test may build its expectations from the
    events themselves (``to_record``) instead of through the codec."""
    for event in sample_events(frames=200):
        assert CODEC.decode(CODEC.encode(event), type(event)) == event


def test_samples_per_type_give_every_analytics_event_count_times() -> None:
    events = list(sample_events_per_type(count=150))
    counts = Counter(type(event).__name__ for event in events)
    assert counts == Counter({name: 150 for name in STORED_EVENTS})
    identities = {repr(row) for e in events for row in rows_of(type(e).__name__, _record(e))}
    rows = sum(len(rows_of(type(e).__name__, _record(e))) for e in events)
    assert len(identities) == rows  # every event lands as new rows


def test_rows_land_typed_and_deduplicated_on_each_engine(backend: AnalyticsBackend) -> None:
    apply_migrations(backend)
    batches: defaultdict[str, list[Row]] = defaultdict(list)
    expected: Counter[str] = Counter()
    events = list(sample_events(frames=300))
    for event in events:
        for table, row in rows_of(type(event).__name__, _record(event)):
            batches[table].append(row)
            expected[table] += 1
    for _ in range(2):  # at-least-once: every row arrives twice
        for table, rows in batches.items():
            backend.insert(table, TABLES[table], rows)
    for table in TABLES:
        assert backend.query(f"SELECT count() FROM {table} FINAL").rows == [(expected[table],)]
    result = backend.query(
        "SELECT event_time, event_time_ms, score, guard_id, review_time_ms FROM outcomes FINAL "
        "WHERE kind = 'unreviewed' ORDER BY event_time_ms LIMIT 1"
    )
    at, millis, score, guard, review = result.rows[0]
    assert isinstance(at, datetime)
    assert at.tzinfo is None
    assert int(at.replace(tzinfo=UTC).timestamp()) == millis // 1000
    assert isinstance(score, float)
    assert guard is None
    assert review is None
    verdicts = [e for e in events if isinstance(e, GuardVerdict)]
    timed = backend.query(
        "SELECT countIf(isNull(response_ms)), sum(assumeNotNull(response_ms)), "
        "sum(reclassified_objects) FROM verdicts FINAL"
    )
    assert timed.rows[0] == (
        sum(v.response_ms is None for v in verdicts),
        sum(v.response_ms or 0 for v in verdicts),
        sum(len(v.class_corrections) for v in verdicts),
    )
    targets = backend.query(
        "SELECT targets, metric_names, decided_by FROM model_updates FINAL "
        "ORDER BY model_version LIMIT 1"
    )
    assert targets.rows[0] == (
        ["hq-north/1"],
        ["gate/candidate_base_map50", "recall_storage_media"],
        "operator:ana",
    )


def test_a_row_of_the_wrong_length_is_a_query_error(chdb_backend: AnalyticsBackend) -> None:
    apply_migrations(chdb_backend)
    columns = TABLES["dead_letters"]
    with pytest.raises(QueryError, match="must have"):
        chdb_backend.insert("dead_letters", columns, [tuple(range(len(columns) - 1))])


def test_a_value_arrow_cannot_hold_is_a_query_error(chdb_backend: AnalyticsBackend) -> None:
    apply_migrations(chdb_backend)
    row = ("6c1f3a52-9d0e-5b8a-a0c4-4c65616b6775", 1, 1000, "t", 0, 2**70, "E", "r", 2, "w")
    with pytest.raises(QueryError, match="Arrow"):
        chdb_backend.insert("dead_letters", TABLES["dead_letters"], [row])


def test_a_batch_whose_columns_hold_only_nulls_or_empty_arrays_inserts(
    backend: AnalyticsBackend,
) -> None:
    """Model updates that all target every checkpoint and carry no parent or metrics: type
    inference has nothing to go on in those columns, and the batch must still go in."""
    apply_migrations(backend)
    update = ModelUpdate(
        model_version="m1",
        artifact_uri="file:///models/m1",
        sha256="0" * 64,
        signature=b"\x01" * 64,
        signing_key_id="k1",
        label_map=(),
        rollout_mode="active",
    )
    rows = [
        row
        for event in (update, dataclasses.replace(update, model_version="m2"))
        for _, row in rows_of("ModelUpdate", _record(event))
    ]
    backend.insert("model_updates", TABLES["model_updates"], rows)
    stored = backend.query(
        "SELECT model_version, parent_version, targets, metric_values, decided_by "
        "FROM model_updates FINAL ORDER BY model_version"
    )
    assert stored.rows == [("m1", None, [], [], None), ("m2", None, [], [], None)]
