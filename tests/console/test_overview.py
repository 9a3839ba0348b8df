"""The overview runs the dashboard panels' own SQL: every panel answers on seeded data, the
headline numbers are the panels' sums, and the page's API serves them behind a session."""

from __future__ import annotations

from datetime import timedelta

from sinks.clickhouse.backend import ChdbBackend
from sinks.clickhouse.samples import START
from sinks.dashboards.panels import PANELS
from streams.console.overview import LockedBackend, run_overview
from tests.console.conftest import Console, sign_in
from tests.sinks.conftest import chdb_backend
from tests.sinks.test_panels import _seed

__all__ = ["chdb_backend"]  # the fixture, imported so this package can use it

FRAMES = 600  # what _seed writes


def test_every_panel_answers_and_the_headline_sums_them(chdb_backend: ChdbBackend) -> None:
    _seed(chdb_backend)
    overview = run_overview(
        LockedBackend(chdb_backend), end=START + timedelta(days=1), window=timedelta(days=1)
    )
    assert [p.panel.title for p in overview.panels] == [p.title for p in PANELS]
    assert [p.error for p in overview.panels] == [None] * len(PANELS)
    headline = overview.headline()
    assert headline["frames"] == FRAMES
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
    _seed(chdb_backend)
    overview = run_overview(chdb_backend, end=START - timedelta(days=3))
    assert overview.headline()["frames"] == 0
    assert all(p.error is None for p in overview.panels)


def test_a_missing_table_fails_its_panels_only(chdb_backend: ChdbBackend) -> None:
    _seed(chdb_backend)
    chdb_backend.execute("DROP TABLE model_status")
    overview = run_overview(chdb_backend, end=START + timedelta(days=1))
    failed = [p.panel.title for p in overview.panels if p.error]
    assert failed == ["Model versions live per checkpoint"]


def test_the_overview_api_serves_the_panels_to_a_signed_in_guard(
    console: Console, chdb_backend: ChdbBackend
) -> None:
    _seed(chdb_backend)
    console.services.analytics = LockedBackend(chdb_backend)
    assert console.client.get("/api/overview").status_code == 401
    sign_in(console.client)
    body = console.client.get("/api/overview").json()
    assert [p["title"] for p in body["panels"]] == [p.title for p in PANELS]
    throughput = body["panels"][0]
    assert throughput["columns"][0] == {"name": "time", "kind": "time"}


def test_the_overview_window_is_bounded(console: Console, chdb_backend: ChdbBackend) -> None:
    console.services.analytics = LockedBackend(chdb_backend)
    sign_in(console.client)
    assert console.client.get("/api/overview?hours=0").status_code == 422
    assert console.client.get("/api/overview?hours=100000").status_code == 422
    body = console.client.get("/api/overview?hours=1").json()
    assert body["headline"]["frames"] == 0
