"""Dashboards as code: valid Grafana JSON, committed files current, HTTP calls as documented.

No Grafana server can be installed here, so the push and annotation calls go to a local
HTTP endpoint that answers as Grafana's HTTP API documentation describes
(``tests/sinks/grafana_api.py``) and records what it received.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from sinks.dashboards.grafana import (
    DASHBOARD_UID,
    DEFAULT_EXPORT_DIR,
    OPERATIONS_UID,
    dashboard_json,
    dashboards,
    export,
    operations_json,
    rendered_files,
)
from sinks.dashboards.operations import OPERATIONS, MetricsPanel
from sinks.dashboards.panels import PANELS
from sinks.dashboards.push import GrafanaPublisher
from sinks.dashboards.variables import VARIABLES
from sinks.exceptions import SinkError
from tests.sinks.grafana_api import GrafanaAPI, grafana_api


def _paths(value: Any, prefix: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(f"{prefix}/{key}")
            found |= _paths(item, f"{prefix}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= _paths(item, f"{prefix}/{index}")
    return found


def _round_trip(ours: dict[str, Any]) -> dict[str, Any]:
    """``ours`` loaded into the SDK's dashboard model and written back; every key we write
    must survive."""
    register_default_plugins()
    model = Dashboard.from_json(json.loads(json.dumps(ours)))
    theirs: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    lost = {
        path
        for path in _paths(ours) - _paths(theirs)
        # The SDK types annotation targets as the built-in Grafana source's only; a data
        # source's annotation query (rawSql...) is stored there all the same by Grafana.
        if not path.startswith("/annotations/list/0/target/")
    }
    assert lost == set()
    return theirs


def test_dashboard_json_round_trips_through_the_grafana_foundation_sdk_model() -> None:
    theirs = _round_trip(dashboard_json())
    assert theirs["uid"] == DASHBOARD_UID
    assert [p["title"] for p in theirs["panels"]] == [p.title for p in PANELS]
    assert [p["targets"][0]["rawSql"] for p in theirs["panels"]] == [p.sql for p in PANELS]
    variables = theirs["templating"]["list"]
    assert [(v["name"], v["multi"], v["includeAll"]) for v in variables] == [
        (v.name, True, True) for v in VARIABLES
    ]


def test_operations_json_round_trips_through_the_grafana_foundation_sdk_model() -> None:
    theirs = _round_trip(operations_json())
    assert theirs["uid"] == OPERATIONS_UID
    assert [p["title"] for p in theirs["panels"]] == [p.title for p in OPERATIONS]
    for panel, declared in zip(theirs["panels"], OPERATIONS, strict=True):
        if isinstance(declared, MetricsPanel):
            assert panel["datasource"]["type"] == "prometheus"
            assert [t["expr"] for t in panel["targets"]] == [q.expr for q in declared.queries]
        else:
            assert panel["targets"][0]["rawSql"] == declared.sql


def test_every_business_panel_filters_by_checkpoint_and_lane_or_says_why_not() -> None:
    for panel in dashboard_json()["panels"]:
        sql = panel["targets"][0]["rawSql"]
        declared = next(p for p in PANELS if p.title == panel["title"])
        filtered = all(f"${{{v.name}:singlequote}}" in sql for v in VARIABLES)
        assert filtered != (declared.unfiltered is not None), panel["title"]


@pytest.mark.parametrize("board", dashboards(), ids=lambda board: board["uid"])
def test_panels_tile_the_24_column_grid_without_overlap(board: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        mine = {
            (grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])
        }
        assert not cells & mine
        cells |= mine


def test_committed_files_equal_a_fresh_export(tmp_path: Path) -> None:
    export(tmp_path)
    for relative, content in rendered_files().items():
        assert (DEFAULT_EXPORT_DIR / relative).read_text() == content, relative
        assert (tmp_path / relative).read_text() == content


@pytest.fixture
def grafana() -> Iterator[tuple[str, type[GrafanaAPI]]]:
    with grafana_api() as endpoint:
        yield endpoint


def test_push_posts_the_dashboard_with_overwrite(grafana: tuple[str, type[GrafanaAPI]]) -> None:
    url, handler = grafana
    answers = GrafanaPublisher(url=url, token="sa-token").push_dashboards(folder_uid="ops")
    assert [answer["status"] for answer in answers] == ["success", "success"]
    checkpoints, operations = handler.received
    for request in (checkpoints, operations):
        assert (request["method"], request["path"]) == ("POST", "/api/dashboards/db")
        assert request["auth"] == "Bearer sa-token"
        assert request["body"]["overwrite"] is True
        assert request["body"]["folderUid"] == "ops"
        assert request["body"]["dashboard"]["id"] is None  # create-or-replace by uid
    assert checkpoints["body"]["dashboard"]["uid"] == DASHBOARD_UID
    assert len(checkpoints["body"]["dashboard"]["panels"]) == len(PANELS)
    assert operations["body"]["dashboard"]["uid"] == OPERATIONS_UID


def test_rollout_annotation_is_posted_on_the_dashboard(
    grafana: tuple[str, type[GrafanaAPI]],
) -> None:
    url, handler = grafana
    at = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    answer = GrafanaPublisher(url=url, token="sa-token").annotate_rollout(
        model_version="retinanet-2026.11.2", rollout_mode="canary", at=at, targets=["hq-north/1"]
    )
    assert answer["id"] == 1
    [request] = handler.received
    assert (request["method"], request["path"]) == ("POST", "/api/annotations")
    body = request["body"]
    assert body["dashboardUID"] == DASHBOARD_UID
    assert body["time"] == int(at.timestamp() * 1000)
    assert body["tags"] == ["leakguard", "rollout", "canary", "retinanet-2026.11.2"]
    assert "hq-north/1" in body["text"]


def test_a_refused_call_is_a_sink_error(grafana: tuple[str, type[GrafanaAPI]]) -> None:
    url, handler = grafana
    handler.fail_with = 401
    with pytest.raises(SinkError, match="Grafana refused"):
        GrafanaPublisher(url=url, token="wrong").push_dashboards()
