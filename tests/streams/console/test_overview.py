"""The overview runs the dashboard panels' own SQL: every panel answers on seeded data, the
headline numbers are the panels' sums, and the page's API serves them behind a session.
Time series are bucketed as Grafana buckets the window, narrowed to the data it holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sinks.clickhouse.backend import ChdbBackend
from sinks.dashboards.grafana import dashboard_json
from sinks.dashboards.macros import MAX_DATA_POINTS, bucket_seconds, expand_macros
from sinks.dashboards.overview import LockedBackend, overview_source, run_overview
from sinks.dashboards.panels import PANELS
from tests.sinks.conftest import chdb_backend
from tests.sinks.samples import START, TIP_EVERY
from tests.sinks.seeding import seed_recent, seed_sample_events
from tests.streams.console.conftest import Console, sign_in

__all__ = ["chdb_backend"]  # the fixture, imported so this package can use it

FRAMES = 600  # what seed_sample_events writes


def test_every_panel_answers_and_the_headline_sums_them(chdb_backend: ChdbBackend) -> None:
    seed_sample_events(chdb_backend)
    overview = run_overview(
        LockedBackend(chdb_backend), end=START + timedelta(days=1), window=timedelta(days=1)
    )
    assert [p.panel.title for p in overview.panels] == [p.title for p in PANELS]
    assert [p.error for p in overview.panels] == [None] * len(PANELS)
    headline = overview.headline()
    # TIP frames are no detector statistics: their detections write no frame rows (#20).
    assert headline["frames"] == FRAMES - FRAMES // TIP_EVERY
    expected = {
        (class_name, kind): count
        for class_name, kind, count in chdb_backend.query(
            "SELECT class_name, kind, count() FROM outcomes FINAL "
            "WHERE kind IN ('tp', 'fp', 'fn') GROUP BY class_name, kind"
        ).rows
    }
    got = {
        (class_name, kind): count
        for class_name, counts in headline["outcomes_per_class"].items()
        for kind, count in counts.items()
        if count
    }
    assert got == expected


def test_a_window_without_data_gives_empty_panels_not_errors(chdb_backend: ChdbBackend) -> None:
    seed_sample_events(chdb_backend)
    overview = run_overview(chdb_backend, end=START - timedelta(days=3))
    assert overview.headline()["frames"] == 0
    assert all(p.error is None for p in overview.panels)


def test_a_missing_table_fails_its_panels_only(chdb_backend: ChdbBackend) -> None:
    seed_sample_events(chdb_backend)
    chdb_backend.execute("DROP TABLE model_status")
    overview = run_overview(chdb_backend, end=START + timedelta(days=1))
    failed = [p.panel.title for p in overview.panels if p.error]
    assert failed == ["Model rollouts", "Model versions live per checkpoint"]


def test_the_overview_api_serves_the_panels_to_a_signed_in_guard(
    console: Console, chdb_backend: ChdbBackend
) -> None:
    seed_sample_events(chdb_backend)
    console.services.overview = overview_source(LockedBackend(chdb_backend))
    assert console.client.get("/api/overview").status_code == 401
    sign_in(console.client)
    body = console.client.get("/api/overview").json()
    assert [p["title"] for p in body["panels"]] == [p.title for p in PANELS]
    throughput = body["panels"][0]
    assert throughput["columns"][0] == {"name": "time", "kind": "time"}


def test_the_overview_window_is_bounded(console: Console, chdb_backend: ChdbBackend) -> None:
    console.services.overview = overview_source(LockedBackend(chdb_backend))
    sign_in(console.client)
    assert console.client.get("/api/overview?hours=0").status_code == 422
    assert console.client.get("/api/overview?hours=100000").status_code == 422
    body = console.client.get("/api/overview?hours=1").json()
    assert body["headline"]["frames"] == 0


@pytest.mark.parametrize(
    ("window", "bucket_s"),
    [
        # Known answers from Grafana's interval ladder, window / MAX_DATA_POINTS rounded up it.
        (timedelta(seconds=1), 1),
        (timedelta(seconds=90), 5),
        (timedelta(hours=1), 120),
        (timedelta(days=1), 3600),
        (timedelta(days=7), 6 * 3600),
        (timedelta(days=30), 24 * 3600),
    ],
)
def test_the_bucket_follows_the_window_as_grafana_picks_it(
    window: timedelta, bucket_s: int
) -> None:
    assert MAX_DATA_POINTS == 25
    assert bucket_seconds(START, START + window) == bucket_s
    sql = expand_macros("SELECT $__interval_s", start=START, end=START + window)
    assert sql == f"SELECT {bucket_s}"


@pytest.mark.parametrize("window", [timedelta(hours=24), timedelta(days=30)])
def test_a_fresh_run_reads_as_a_curve_over_any_window(
    chdb_backend: ChdbBackend, window: timedelta
) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    first = seed_recent(chdb_backend, frames=40, end=end)  # 4 min 40 s of data
    overview = run_overview(chdb_backend, end=end, window=window)
    assert overview.data_start == first
    assert overview.interval_s == bucket_seconds(first, end) == 10
    throughput = next(p for p in overview.panels if p.panel.title == "Checkpoint throughput")
    times = {datetime.fromisoformat(row[0]) for row in throughput.rows}
    assert len(times) > 20
    assert all(int(t.timestamp()) % overview.interval_s == 0 for t in times)
    assert sum(row[2] for row in throughput.rows) == 40 - 40 // TIP_EVERY  # TIP frames: none
    assert overview.as_json()["interval_s"] == 10


def test_an_empty_window_is_bucketed_as_a_whole(chdb_backend: ChdbBackend) -> None:
    seed_sample_events(chdb_backend)
    end = START - timedelta(days=3)
    overview = run_overview(chdb_backend, end=end, window=timedelta(days=1))
    assert overview.data_start is None
    assert overview.interval_s == 3600
    assert all(p.rows == [] for p in overview.panels if p.panel.visualisation == "timeseries")
    assert all(p.as_json()["empty"] for p in overview.panels)


def test_grafana_gets_the_same_bucket_and_empty_state_as_the_overview() -> None:
    panels = {p["title"]: p for p in dashboard_json()["panels"]}
    for panel in PANELS:
        generated = panels[panel.title]
        assert generated["maxDataPoints"] == MAX_DATA_POINTS
        assert generated["interval"] == "1s"
        assert generated["fieldConfig"]["defaults"]["noValue"] == panel.empty
        if panel.visualisation == "timeseries":
            assert "$__interval_s" in generated["targets"][0]["rawSql"]
