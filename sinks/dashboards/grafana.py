"""Grafana dashboard JSON and provisioning files, generated from the panel declarations.

Two dashboards. ``leakguard — checkpoints`` holds every panel of
:data:`sinks.dashboards.panels.PANELS` on the official ClickHouse data source
(``grafana-clickhouse-datasource``), the ``$checkpoint`` and ``$lane`` variables and the
rollout annotations; ``leakguard — operations`` holds
:data:`sinks.dashboards.operations.OPERATIONS`, mostly on Prometheus. Provisioning files
tell a Grafana server where the data sources, the dashboards and the alert rules
(:mod:`sinks.dashboards.alert_rules`) are. The output is deterministic (sorted keys, fixed
ids), so the committed files in ``infra/grafana/`` are checked against a fresh export by a
test, and the JSON is validated by a round trip through the ``grafana-foundation-sdk``
dashboard model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from sinks.dashboards.alert_rules import AlertThresholds, alert_rules_yaml
from sinks.dashboards.datasources import (
    CLICKHOUSE,
    PROMETHEUS,
    SQL_FORMAT_TABLE,
    SQL_FORMAT_TIME_SERIES,
    datasources_yaml,
)
from sinks.dashboards.macros import MAX_DATA_POINTS
from sinks.dashboards.operations import OPERATIONS, MetricsPanel
from sinks.dashboards.panels import ANNOTATIONS, PANELS, AnnotationQuery, Panel
from sinks.dashboards.variables import ALL, VARIABLES, Variable

__all__ = [
    "DASHBOARD_UID",
    "DEFAULT_EXPORT_DIR",
    "OPERATIONS_UID",
    "dashboard_json",
    "dashboards",
    "export",
    "operations_json",
    "rendered_files",
]

DASHBOARD_UID: Final = "leakguard-checkpoints"
OPERATIONS_UID: Final = "leakguard-operations"
#: Grafana 10/11 dashboard schema version the JSON is written for.
SCHEMA_VERSION: Final = 39
#: Panel height in grid rows (Grafana's grid is 24 columns wide).
PANEL_HEIGHT: Final = 8
#: The smallest bucket Grafana may pick (the plugin's ``$__interval_s`` is whole seconds).
MIN_INTERVAL: Final = "1s"
#: Where ``leakguard dashboards export`` writes by default (infra owns provisioning).
DEFAULT_EXPORT_DIR: Final = Path(__file__).resolve().parents[2] / "infra" / "grafana"
#: Where a Grafana container finds the dashboards (the provisioning file points here).
GRAFANA_DASHBOARD_PATH: Final = "/var/lib/grafana/dashboards/leakguard"

_DATASOURCE: Final = CLICKHOUSE


def _target(sql: str, *, time_series: bool) -> dict[str, Any]:
    return {
        "refId": "A",
        "datasource": dict(_DATASOURCE),
        "editorType": "sql",
        "format": SQL_FORMAT_TIME_SERIES if time_series else SQL_FORMAT_TABLE,
        "queryType": "timeseries" if time_series else "table",
        "rawSql": sql,
    }


def _panel(panel: Panel, *, panel_id: int, x: int, y: int) -> dict[str, Any]:
    """One panel; ``maxDataPoints`` and ``interval`` make Grafana's ``$__interval_s`` the
    bucket :func:`sinks.dashboards.macros.bucket_seconds` gives the console for the same
    window; ``noValue`` is the text an empty panel shows."""
    return {
        "id": panel_id,
        "type": panel.visualisation,
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(_DATASOURCE),
        "gridPos": {"h": PANEL_HEIGHT, "w": panel.width, "x": x, "y": y},
        "targets": [_target(panel.sql, time_series=panel.visualisation == "timeseries")],
        "maxDataPoints": MAX_DATA_POINTS,
        "interval": MIN_INTERVAL,
        "fieldConfig": {"defaults": {"unit": panel.unit, "noValue": panel.empty}, "overrides": []},
        "options": {},
    }


def _metrics_panel(panel: MetricsPanel, *, panel_id: int, x: int, y: int) -> dict[str, Any]:
    """A Prometheus panel, one target per query (refIds A, B, ...); Grafana picks the step
    (``$__rate_interval`` follows it), so it needs no ``maxDataPoints`` of ours."""
    targets = [
        {
            "refId": chr(ord("A") + index),
            "datasource": dict(PROMETHEUS),
            "expr": query.expr,
            "legendFormat": query.legend,
            "range": True,
        }
        for index, query in enumerate(panel.queries)
    ]
    return {
        "id": panel_id,
        "type": panel.visualisation,
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(PROMETHEUS),
        "gridPos": {"h": PANEL_HEIGHT, "w": panel.width, "x": x, "y": y},
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": panel.unit, "noValue": panel.empty}, "overrides": []},
        "options": {},
    }


def _layout(panels: tuple[MetricsPanel | Panel, ...]) -> list[dict[str, Any]]:
    """Panels left to right in rows of 24 grid columns, ids from 1."""
    laid_out: list[dict[str, Any]] = []
    x = y = 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y = 0, y + PANEL_HEIGHT
        if isinstance(panel, MetricsPanel):
            laid_out.append(_metrics_panel(panel, panel_id=panel_id, x=x, y=y))
        else:
            laid_out.append(_panel(panel, panel_id=panel_id, x=x, y=y))
        x += panel.width
    return laid_out


def _annotation(query: AnnotationQuery) -> dict[str, Any]:
    return {
        "name": query.name,
        "enable": True,
        "iconColor": query.colour,
        "datasource": dict(_DATASOURCE),
        "target": _target(query.sql, time_series=False),
    }


def _variable(variable: Variable) -> dict[str, Any]:
    """A multi-select query variable with "All" selected at first. The all value is the
    quoted sentinel, which Grafana substitutes unformatted (see
    :mod:`sinks.dashboards.variables`); ``refresh`` 2 re-lists the options when the time
    range changes, so a new checkpoint appears without reloading the dashboard."""
    return {
        "name": variable.name,
        "label": variable.label,
        "type": "query",
        "datasource": dict(_DATASOURCE),
        "query": variable.sql,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": f"'{ALL}'",
        "current": {"text": ["All"], "value": ["$__all"]},
        "options": [],
        "sort": 1,
    }


def dashboard_json() -> dict[str, Any]:
    """The business dashboard as Grafana's dashboard model (``schemaVersion`` 39)."""
    return {
        "uid": DASHBOARD_UID,
        "title": "leakguard — checkpoints",
        "description": "Throughput, alarms, outcomes, guard reviews, latency and models "
        "of every checkpoint (generated by `leakguard dashboards export`; edit "
        "sinks/dashboards/panels.py, not this file).",
        "tags": ["leakguard"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "panels": _layout(PANELS),
        "annotations": {"list": [_annotation(query) for query in ANNOTATIONS]},
        "templating": {"list": [_variable(variable) for variable in VARIABLES]},
    }


def operations_json() -> dict[str, Any]:
    """The operations dashboard: Prometheus panels and the edges' model versions."""
    return {
        "uid": OPERATIONS_UID,
        "title": "leakguard — operations",
        "description": "Throughput per role, consumer lag, latency, dead letters, refused "
        "events, model version per edge and health of every leakguard process (generated by "
        "`leakguard dashboards export`; edit sinks/dashboards/operations.py, not this file).",
        "tags": ["leakguard", "operations"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": _layout(OPERATIONS),
        "annotations": {"list": []},
        "templating": {"list": []},
    }


def dashboards() -> tuple[dict[str, Any], ...]:
    """Every leakguard dashboard, business first."""
    return dashboard_json(), operations_json()


_DASHBOARDS_YAML: Final = f"""# Generated by `leakguard dashboards export`; do not edit.
apiVersion: 1
providers:
  - name: leakguard
    folder: leakguard
    type: file
    disableDeletion: true
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: {GRAFANA_DASHBOARD_PATH}
"""


def rendered_files(
    *, database: str = "leakguard", thresholds: AlertThresholds | None = None
) -> dict[str, str]:
    """Relative path -> content of every generated file; the alert rules carry
    ``thresholds`` (default: their documented defaults)."""
    files = {
        f"dashboards/{board['uid']}.json": json.dumps(
            board, indent=2, sort_keys=True, ensure_ascii=False
        )
        + "\n"
        for board in dashboards()
    }
    return files | {
        "provisioning/datasources/leakguard.yaml": datasources_yaml(database),
        "provisioning/dashboards/leakguard.yaml": _DASHBOARDS_YAML,
        "provisioning/alerting/leakguard.yaml": alert_rules_yaml(
            thresholds if thresholds is not None else AlertThresholds()
        ),
    }


def export(
    directory: Path = DEFAULT_EXPORT_DIR,
    *,
    database: str = "leakguard",
    thresholds: AlertThresholds | None = None,
) -> list[Path]:
    """Write the generated files under ``directory``; returns their paths."""
    written = []
    for relative, content in rendered_files(database=database, thresholds=thresholds).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        written.append(path)
    return written
