"""The operations dashboard and the alert rules name only metrics the project exports, and
the edges' model versions read right.

Every PromQL expression of the generated dashboards and rules is parsed with a real PromQL
parser (``promql-parser``, the Prometheus grammar) and each metric it selects must be a
series that the project's metric classes register, built here on fresh registries, or
Prometheus's own ``up``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import CollectorRegistry

from schemas.events import ModelStateName, ModelStatus
from schemas.kafka_health import GroupLag
from sinks.clickhouse.backend import ChdbBackend
from sinks.clickhouse.batching import BatchingSink
from sinks.clickhouse.migrations import apply_migrations
from sinks.clickhouse.worker import SinkWorker
from sinks.dashboards.grafana import rendered_files
from sinks.dashboards.macros import expand_macros
from sinks.dashboards.operations import OPERATIONS
from sinks.dashboards.panels import Panel
from streams.metrics import WorkerMetrics
from tests.sinks.samples import START
from tests.sinks.seeding import seed_events

#: Series Prometheus itself writes for every scrape target.
PROMETHEUS_OWN = frozenset({"up"})
#: The series names Prometheus gives each metric type's samples.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}
#: What Grafana puts in place of its range macro; any valid duration parses the same.
_GRAFANA_RANGES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _series(registry: CollectorRegistry) -> set[str]:
    return {
        family.name + suffix for family in registry.collect() for suffix in _SUFFIXES[family.type]
    }


@pytest.fixture
def exported(chdb_backend: ChdbBackend) -> Iterator[set[str]]:
    """Every series name the project's metric classes register, each on its own registry."""
    apply_migrations(chdb_backend)
    workers, sink, lag = CollectorRegistry(), CollectorRegistry(), CollectorRegistry()
    WorkerMetrics(registry=workers)
    SinkWorker(
        consumer=None,
        sink=BatchingSink(backend=chdb_backend),
        topic_events={},
        producer=None,
        dead_letter_topic="deadletter",
        registry=sink,
    )
    group_lag = GroupLag(
        client={"bootstrap.servers": "127.0.0.1:9"}, group="g", topics=(), registry=lag
    )
    try:
        yield _series(workers) | _series(sink) | _series(lag)
    finally:
        group_lag.consumer.close()


#: Expressions around one inner expression (``.expr``).
_WRAPPERS = (
    promql_parser.AggregateExpr,
    promql_parser.ParenExpr,
    promql_parser.UnaryExpr,
    promql_parser.SubqueryExpr,
)


def _selected(node: Any) -> Iterator[str]:
    """Names of the metrics a parsed PromQL expression selects."""
    if isinstance(node, promql_parser.VectorSelector):
        assert node.name is not None, "select metrics by name, not by a __name__ matcher"
        yield node.name
    elif isinstance(node, promql_parser.MatrixSelector):
        yield from _selected(node.vector_selector)
    elif isinstance(node, promql_parser.BinaryExpr):
        yield from _selected(node.lhs)
        yield from _selected(node.rhs)
    elif isinstance(node, promql_parser.Call):
        for arg in node.args:
            yield from _selected(arg)
    elif isinstance(node, _WRAPPERS):
        yield from _selected(node.expr)


def _metrics_of(expr: str) -> set[str]:
    for macro, duration in _GRAFANA_RANGES.items():
        expr = expr.replace(macro, duration)
    return set(_selected(promql_parser.parse(expr)))


def _expressions() -> Iterator[tuple[str, str]]:
    """``(where, PromQL)`` of every Prometheus query the generated files hold."""
    files = rendered_files()
    for path, content in files.items():
        if path.endswith(".json"):
            for panel in json.loads(content)["panels"]:
                for target in panel["targets"]:
                    if "expr" in target:
                        yield f"{path}: {panel['title']}", target["expr"]
    rules = yaml.safe_load(files["provisioning/alerting/leakguard.yaml"])
    for rule in rules["groups"][0]["rules"]:
        for query in rule["data"]:
            if "expr" in query["model"]:
                yield f"rule {rule['uid']}", query["model"]["expr"]


def test_every_metric_the_dashboards_and_rules_read_is_exported(exported: set[str]) -> None:
    expressions = list(_expressions())
    assert len(expressions) > 10  # the operations panels and three rules
    for where, expr in expressions:
        unknown = _metrics_of(expr) - exported - PROMETHEUS_OWN
        assert unknown == set(), (where, expr)


def test_the_collector_knows_an_unexported_name(exported: set[str]) -> None:
    """The check itself: a misspelt metric is caught, a histogram's buckets are known."""
    assert _metrics_of("rate(leakguard_frame_in_total[$__rate_interval])") - exported == {
        "leakguard_frame_in_total"
    }
    assert "leakguard_inference_latency_seconds_bucket" in exported
    assert "leakguard_consumer_lag" in exported


def _status(
    worker: str, minute: int, version: str, state: ModelStateName, shadow: str | None
) -> ModelStatus:
    return ModelStatus(
        event_time=START + timedelta(minutes=minute),
        checkpoint="hq",
        worker_id=worker,
        model_version=version,
        state=state,
        active_version="v1",
        shadow_version=shadow,
    )


def test_model_version_per_edge_is_each_edge_s_latest_report(chdb_backend: ChdbBackend) -> None:
    """Known answer: edge-1 reported v1 active, then v2 in shadow; edge-2 only v1 active."""
    seed_events(
        chdb_backend,
        [
            _status("edge-1", 0, "v1", "active", None),
            _status("edge-1", 5, "v2", "shadow", "v2"),
            _status("edge-2", 3, "v1", "active", None),
        ],
    )
    panel = next(p for p in OPERATIONS if isinstance(p, Panel))
    sql = expand_macros(panel.sql, start=START, end=START + timedelta(hours=1))
    rows = [tuple(row[:5]) for row in chdb_backend.query(sql).rows]
    assert rows == [
        ("edge-1", "hq", "v1", "v2", "v2 shadow"),
        ("edge-2", "hq", "v1", None, "v1 active"),
    ]
