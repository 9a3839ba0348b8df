"""Threat image projection in the analytics store (#20): a TIP frame's detection writes no
row, its TipResult one; the TIP panels' per guard, per shift and per hour figures are
known answers, on both engines."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from schemas import Codec, Detection, TipProjection, TipResult
from schemas.events import Box, TipResultKindName
from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.rows import rows_of
from sinks.dashboards.macros import expand_macros
from sinks.dashboards.panels import PANELS
from tests.sinks.seeding import seed_events

CODEC = Codec()
BOX = Box(x1=1, y1=2, x2=30, y2=40)
#: 06:00 UTC: the morning shift starts.
SHIFT = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def _result(
    guard: str, at: datetime, result: TipResultKindName, response_ms: int, *, aided: bool = True
) -> TipResult:
    projection = uuid.uuid4()
    return TipResult(
        event_id=projection, event_time=at, checkpoint="hq", lane="1", frame_id=str(projection),
        projection_id=projection, model_version="m1", class_name="usb", box=BOX, result=result,
        detector_alarmed=aided, guard_id=guard, detection_event_id=uuid.uuid4(),
        verdict_event_id=uuid.uuid4(), response_ms=response_ms,
    )  # fmt: skip


def _record(event: Detection | TipResult) -> dict[str, object]:
    name = type(event).__name__
    return dict(CODEC.decode_record(CODEC.encode(event), name))


def test_a_tip_detection_writes_no_row_and_its_result_one() -> None:
    detection = Detection(
        checkpoint="hq", lane="1", frame_id="f", model_version="m1", inference_latency_ms=3.0,
        image_width=64, image_height=64, objects=(), alarmed=True,
        tip=TipProjection(projection_id=uuid.uuid4(), class_name="usb", subtype="usb", box=BOX),
    )  # fmt: skip
    assert rows_of("Detection", _record(detection)) == []
    assert len(rows_of("Detection", _record(dataclasses.replace(detection, tip=None)))) == 1
    ((table, row),) = rows_of("TipResult", _record(_result("ana", SHIFT, "hit", 1200)))
    assert table == "tip_results"
    assert "hit" in row


def _panel(title: str) -> str:
    return next(panel.sql for panel in PANELS if panel.title == title)


def test_tip_panels_give_hit_rate_and_response_time_per_guard_shift_and_hour(
    backend: AnalyticsBackend,
) -> None:
    early = SHIFT + timedelta(minutes=20)  # hour 0 of the morning shift
    late = SHIFT + timedelta(hours=7, minutes=30)  # its last hour
    events = [
        *(_result("ana", early, "hit", 1000) for _ in range(3)),
        _result("ana", early, "miss", 3000, aided=False),
        _result("ana", late, "hit", 4000),
        *(_result("ana", late, "miss", 6000, aided=False) for _ in range(3)),
        *(_result("ben", early + timedelta(hours=8), "hit", 2000) for _ in range(2)),
    ]
    seed_events(backend, events)
    window = {"start": SHIFT, "end": SHIFT + timedelta(days=1)}
    shifts = backend.query(expand_macros(_panel("TIP hit rate per guard and shift"), **window))
    got = [(str(r[0])[:16], r[1], r[2], r[3], r[4]) for r in shifts.rows]
    assert got == [
        ("2026-11-20 06:00", "ana", 8, 0.5, 0.0),  # every unaided projection missed
        ("2026-11-20 14:00", "ben", 2, 1.0, None),  # the detector alarmed on both
    ]
    hours = backend.query(expand_macros(_panel("TIP over the shift"), **window))
    by_hour = {(r[1], r[0]): (r[2], r[3], r[5]) for r in hours.rows}
    assert by_hour[("ana", 0)][:2] == (4, 0.75)
    assert by_hour[("ana", 7)][:2] == (4, 0.25)
    assert by_hour[("ana", 0)][2] < by_hour[("ana", 7)][2]  # slower late in the shift
    assert by_hour[("ben", 0)][:2] == (2, 1.0)
