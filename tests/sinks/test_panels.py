"""Every dashboard query runs on both engines against seeded data, non-empty and typed."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from schemas.events import Box, Event, ModelStatus, ModelUpdate, Outcome
from sinks.clickhouse.backend import AnalyticsBackend
from sinks.dashboards.macros import expand_macros
from sinks.dashboards.operations import OPERATIONS
from sinks.dashboards.panels import ANNOTATIONS, PANELS, ColumnKind, Panel
from sinks.dashboards.variables import VARIABLES
from tests.sinks.samples import CHECKPOINTS, LANES, START
from tests.sinks.seeding import seed_events, seed_sample_events

_KIND_OF_TYPE = (
    (re.compile(r"(Nullable\()?DateTime"), "time"),
    (re.compile(r"(Nullable\()?(U?Int\d+|Float\d+)"), "number"),
    (re.compile(r"(Nullable\()?String"), "string"),
)


def _kind(clickhouse_type: str) -> ColumnKind | None:
    for pattern, kind in _KIND_OF_TYPE:
        if pattern.match(clickhouse_type):
            return kind  # type: ignore[return-value]
    return None


def test_every_panel_query_returns_typed_rows(backend: AnalyticsBackend) -> None:
    seed_sample_events(backend)
    queries = [(p.title, p.sql, p.columns) for p in PANELS]
    queries += [(p.title, p.sql, p.columns) for p in OPERATIONS if isinstance(p, Panel)]
    queries += [(a.name, a.sql, a.columns) for a in ANNOTATIONS]
    for title, sql, columns in queries:
        result = backend.query(expand_macros(sql, start=START, end=START + timedelta(days=1)))
        assert result.rows, title
        assert result.columns == tuple(name for name, _ in columns), title
        assert tuple(_kind(t) for t in result.types) == tuple(k for _, k in columns), title


def test_the_time_filter_excludes_rows_outside_the_range(backend: AnalyticsBackend) -> None:
    seed_sample_events(backend)
    before = START - timedelta(days=2)
    throughput = PANELS[0]
    sql = expand_macros(throughput.sql, start=before, end=before + timedelta(hours=1))
    assert backend.query(sql).rows == []


_DAY = timedelta(days=1)
_FILTERED = [(p.title, p.sql) for p in PANELS if p.unfiltered is None]
_FILTERED += [(a.name, a.sql) for a in ANNOTATIONS]


def _rows(
    backend: AnalyticsBackend, sql: str, **selections: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    expanded = expand_macros(sql, start=START, end=START + _DAY, selections=selections)
    return sorted(map(tuple, backend.query(expanded).rows), key=repr)


def test_all_is_every_checkpoint_and_lane_selected(backend: AnalyticsBackend) -> None:
    """ "All" (the sentinel) and every value ticked give the same rows, panel by panel."""
    seed_sample_events(backend)
    for title, sql in _FILTERED:
        every = _rows(backend, sql, checkpoint=CHECKPOINTS, lane=LANES)
        assert _rows(backend, sql) == every, title


def test_a_place_nobody_has_empties_every_filtered_panel(backend: AnalyticsBackend) -> None:
    """Each filtered panel reads the variables: a checkpoint or lane without data leaves it
    nothing to count (no rows, or one row of zero for the stat panel). The sample model
    statuses name no lane, so they are their whole checkpoint's and stay in any lane."""
    seed_sample_events(backend)
    for title, sql in _FILTERED:
        assert _rows(backend, sql, checkpoint=("nowhere",)) in ([], [(0,)]), title
        in_lane_9 = _rows(backend, sql, lane=("9",))
        if title == "Model versions live per checkpoint":
            assert in_lane_9 == _rows(backend, sql) != [], title
        else:
            assert in_lane_9 in ([], [(0,)]), title


def test_a_selection_counts_only_its_checkpoint_and_lane(backend: AnalyticsBackend) -> None:
    """Known answer: the throughput panel over one checkpoint's one lane sums to that lane's
    frames, and two checkpoints ticked sum to both; quotes in a value stay literal."""
    seed_sample_events(backend)
    throughput = next(p for p in PANELS if p.title == "Checkpoint throughput")
    [(frames,)] = backend.query(
        f"SELECT count() FROM detection_frames FINAL "
        f"WHERE checkpoint = '{CHECKPOINTS[1]}' AND lane = '{LANES[0]}'"
    ).rows
    rows = _rows(backend, throughput.sql, checkpoint=(CHECKPOINTS[1],), lane=(LANES[0],))
    assert {row[1] for row in rows} == {CHECKPOINTS[1]}
    assert sum(row[2] for row in rows) == frames > 0
    both = _rows(backend, throughput.sql, checkpoint=CHECKPOINTS, lane=(LANES[0],))
    assert {row[1] for row in both} == set(CHECKPOINTS)
    assert _rows(backend, throughput.sql, checkpoint=("o'hare\\",)) == []


def test_the_variables_list_what_the_panels_filter_by(backend: AnalyticsBackend) -> None:
    """$checkpoint lists the seeded checkpoints; $lane the lanes of the ticked checkpoints."""
    seed_sample_events(backend)
    checkpoint, lane = VARIABLES
    assert [r[0] for r in _rows(backend, checkpoint.sql)] == sorted(CHECKPOINTS)
    assert [r[0] for r in _rows(backend, lane.sql, checkpoint=(CHECKPOINTS[0],))] == sorted(LANES)
    assert _rows(backend, lane.sql, checkpoint=("nowhere",)) == []


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        expand_macros("SELECT 1", start=START.replace(tzinfo=None), end=START)


def _update(
    version: str, mode: str, decided_by: str, at: datetime, **metrics: float
) -> ModelUpdate:
    return ModelUpdate(
        event_time=at,
        model_version=version,
        artifact_uri=f"file:///models/{version}",
        sha256="0" * 64,
        signature=b"\x01" * 64,
        signing_key_id="k1",
        label_map=(),
        metrics=metrics,
        rollout_mode=mode,  # type: ignore[arg-type]
        decided_by=decided_by,
        reason=f"{mode} by {decided_by}",
    )


def _status(
    version: str, state: str, agreement: float | None, *, rolled_back: bool = False
) -> ModelStatus:
    return ModelStatus(
        event_time=START,
        checkpoint="hq",
        worker_id="edge-1",
        model_version=version,
        state=state,  # type: ignore[arg-type]
        agreement_rate=agreement,
        rolled_back=rolled_back,
    )


def _outcome(version: str, kind: str, index: int) -> Outcome:
    box = Box(x1=1, y1=1, x2=9, y2=9)
    return Outcome(
        event_time=START,
        checkpoint="hq",
        lane="1",
        frame_id=f"f{index}",
        outcome_id=uuid.uuid4(),
        model_version=version,
        object_id="o0",
        kind=kind,  # type: ignore[arg-type]
        class_name="phone",
        score=0.9,
        box=box,
        detection_event_id=uuid.uuid4(),
    )


def test_the_rollout_panel_reports_each_version_s_decision_and_measured_rates(
    backend: AnalyticsBackend,
) -> None:
    """Known answers: v2 went shadow then canary by the gate (edges agreed 0.9 and 0.7) and
    an edge rolled it back; 1 of its 4 reviewed alarms was false. v3 was announced by an
    operator and nothing was measured for it yet: NULL, not 0."""
    at = START + timedelta(hours=1)
    events: list[Event] = [
        _update("v2", "shadow", "gate", at, **{"gate/candidate_base_map50": 0.66}),
        _update("v2", "canary", "gate", at + timedelta(minutes=5)),
        _update("v3", "active", "operator:ana", at + timedelta(minutes=9)),
        _status("v2", "shadow", 0.9),
        _status("v2", "canary", 0.7),
        _status("v2", "rejected", None, rolled_back=True),
        *(_outcome("v2", kind, i) for i, kind in enumerate(("tp", "tp", "tp", "fp", "fn"))),
    ]
    seed_events(backend, events)
    panel = next(p for p in PANELS if p.title == "Model rollouts")
    sql = expand_macros(panel.sql, start=START, end=START + timedelta(days=1))
    rows = {
        row[0]: dict(zip(backend.query(sql).columns, row, strict=True))
        for row in backend.query(sql).rows
    }
    v2, v3 = rows["v2"], rows["v3"]
    assert (v2["rollout_mode"], v2["decided_by"], v2["reason"]) == (
        "canary",
        "gate",
        "canary by gate",
    )
    assert v2["gate_base_map50"] == pytest.approx(0.66)  # the gate's figure stays with v2
    assert v2["edge_agreement"] == pytest.approx(0.8)
    assert v2["rolled_back"] == 1
    assert (v2["reviewed_alarms"], v2["false_alarm_share"]) == (4, pytest.approx(0.25))
    assert (v3["rollout_mode"], v3["decided_by"]) == ("active", "operator:ana")
    assert [v3[k] for k in ("edge_agreement", "rolled_back", "reviewed_alarms")] == [None] * 3
    assert list(rows) == ["v3", "v2"]  # latest step first
