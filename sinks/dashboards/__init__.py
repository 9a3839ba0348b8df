"""Dashboards as code: panels declared once, Grafana JSON and provisioning generated from
them, pushed with annotations through Grafana's HTTP API."""

from sinks.dashboards.grafana import dashboard_json, export, rendered_files
from sinks.dashboards.macros import expand_macros
from sinks.dashboards.panels import ANNOTATIONS, PANELS, Panel
from sinks.dashboards.push import GrafanaPublisher

__all__ = [
    "ANNOTATIONS",
    "PANELS",
    "GrafanaPublisher",
    "Panel",
    "dashboard_json",
    "expand_macros",
    "export",
    "rendered_files",
]
