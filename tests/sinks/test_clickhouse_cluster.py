"""The cluster DDL on a real cluster: two Debian clickhouse-server replicas of one shard,
coordinated by Debian's ZooKeeper, all on loopback and started here.

The sink writes through the Distributed tables while the replica it talks to is stopped and
started again; afterwards each replica holds every row exactly once, and every dashboard
query runs through either replica.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import timedelta
from typing import Any

import pytest
import yaml

from infra.analytics import CLUSTER_QUERY_SETTINGS
from infra.clickhouse_cluster import LocalClickHouseCluster
from infra.clickhouse_server import LocalClickHouseServer
from infra.processes import process_alive
from sinks.clickhouse.backend import DriverBackend
from sinks.clickhouse.batching import Backoff, BatchingSink
from sinks.clickhouse.cluster import server_version
from sinks.clickhouse.migrations import apply_migrations
from sinks.clickhouse.rows import TABLES
from sinks.dashboards.grafana import DEFAULT_EXPORT_DIR as GRAFANA_DIR
from sinks.dashboards.macros import expand_macros
from sinks.dashboards.panels import ANNOTATIONS, DATA_START_SQL, PANELS
from sinks.exceptions import SinkError
from tests.kafka_kit import publish, uncommitted
from tests.sinks.kafka_helpers import (
    analytics_topics,
    encoded,
    expected_rows,
    final_counts,
    make_worker,
    stored_topics,
)
from tests.sinks.samples import START, sample_events
from tests.sinks.seeding import insert_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Frames of sample events (about 5 events of all types each), written in two halves.
FRAMES = 300
#: Frames seeded for the dashboard queries, as tests/sinks/test_panels.py seeds one node.
SEEDED_FRAMES = 600
#: Longest wait for a condition: a restarted 18.16 replica fetches its missed parts within
#: seconds; the margin is for the loaded 2-core machine.
DEADLINE_S = 60.0
_POLL_S = 0.2


@pytest.fixture(scope="module")
def clickhouse_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalClickHouseCluster]:
    """ZooKeeper and two replicas of one shard; the teardown proves no process is left."""
    with LocalClickHouseCluster(root=tmp_path_factory.mktemp("cluster")) as cluster:
        pids = [cluster.zookeeper.pid, *(replica.pid for replica in cluster.replicas)]
        yield cluster
    left = [pid for pid in pids if pid is not None and process_alive(pid)]
    assert left == [], f"cluster processes still running: {left}"


def _node(replica: LocalClickHouseServer, database: str, *others: LocalClickHouseServer) -> str:
    """The URL of ``replica`` with ``others`` to fail over to."""
    url = f"clickhouse://default@{replica.host}:{replica.tcp_port}/{database}"
    if others:
        url += "?alt_hosts=" + ",".join(f"{o.host}:{o.tcp_port}" for o in others)
    return url


def _sink_backend(cluster: LocalClickHouseCluster, database: str) -> DriverBackend:
    """A backend as ``open_backend`` builds it for a cluster: first replica, then the other."""
    first, second = cluster.replicas
    return DriverBackend(
        url=_node(first, database, second), database=database, settings=CLUSTER_QUERY_SETTINGS
    )


@contextmanager
def _on(replica: LocalClickHouseServer, database: str) -> Iterator[DriverBackend]:
    """A connection to ``replica`` alone, closed afterwards."""
    backend = DriverBackend(url=_node(replica, database), database=database)
    try:
        yield backend
    finally:
        backend.close()


def _query(replica: LocalClickHouseServer, database: str, sql: str) -> list[tuple[Any, ...]]:
    with _on(replica, database) as backend:
        return backend.query(sql).rows


def _local_counts(replica: LocalClickHouseServer, database: str, *, final: bool) -> Counter[str]:
    """Rows per table in ``replica``'s own replicated tables (``FINAL``: distinct rows)."""
    suffix = " FINAL" if final else ""
    with _on(replica, database) as backend:
        return Counter(
            {
                table: backend.query(f"SELECT count() FROM {table}_local{suffix}").rows[0][0]
                for table in TABLES
            }
        )


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (a down server counts as not yet) until it holds or fail."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except SinkError:
            pass
        time.sleep(_POLL_S)
    pytest.fail(f"not within {DEADLINE_S} s: {what}")


def test_the_cluster_schema_is_the_single_node_schema(
    clickhouse_cluster: LocalClickHouseCluster, unique_name: str
) -> None:
    first, second = clickhouse_cluster.replicas
    database = unique_name.replace("-", "_")
    with closing(_sink_backend(clickhouse_cluster, database)) as backend:
        report = apply_migrations(backend, cluster=clickhouse_cluster.cluster)
        has_ttl = server_version(backend) >= (19, 6)
    assert report.applied == (1, 2, 3)
    with _on(second, database) as other:  # the replicated ledger lists both there too
        again = apply_migrations(other, cluster=clickhouse_cluster.cluster)
    assert (again.applied, sorted(again.present)) == ((), [1, 2, 3])

    with _on(first, f"{database}_single") as plain:
        apply_migrations(plain)
        single = {table: plain.query(f"DESCRIBE TABLE {table}").rows for table in TABLES}
        plain.execute(f"DROP DATABASE {plain.database}")
    for replica in (first, second):
        for table, expected in single.items():
            described = _query(replica, database, f"DESCRIBE TABLE {table}")
            assert [(name, _plain(kind)) for name, kind, *_ in described] == [
                (name, kind) for name, kind, *_ in expected
            ], table
        engines = dict(
            _query(
                replica,
                database,
                f"SELECT name, engine FROM system.tables WHERE database = '{database}'",
            )
        )
        for table in TABLES:
            assert engines[table] == "Distributed"
            assert engines[f"{table}_local"] == "ReplicatedReplacingMergeTree"
        assert engines["detections_hourly"] == "View"
    create = _query(second, database, "SHOW CREATE TABLE detection_frames_local")[0][0]
    assert "ORDER BY (checkpoint, lane, event_time, event_id)" in create
    assert "LowCardinality(String)" in create
    assert ("TTL" in create) == has_ttl


def _plain(kind: str) -> str:
    """``kind`` without ``LowCardinality``, an encoding the single-node DDL does not use."""
    if kind.startswith("LowCardinality("):
        return kind.removeprefix("LowCardinality(").removesuffix(")")
    return kind


def test_the_sink_writes_through_the_cluster_and_a_replica_restart_loses_and_doubles_nothing(
    clickhouse_cluster: LocalClickHouseCluster, kafka_bootstrap: str, unique_name: str
) -> None:
    first, second = clickhouse_cluster.replicas
    database = unique_name.replace("-", "_")
    apply_migrations(
        _sink_backend(clickhouse_cluster, database), cluster=clickhouse_cluster.cluster
    )
    topics = analytics_topics(kafka_bootstrap, unique_name)
    events = list(sample_events(frames=FRAMES))
    half = len(events) // 2
    # Every event twice: at-least-once delivery, which the tables must collapse.
    publish(kafka_bootstrap, encoded(topics, events[:half]) * 2)
    sink_backend = _sink_backend(clickhouse_cluster, database)
    sink = BatchingSink(
        backend=sink_backend,
        max_batch_rows=2_000,
        flush_interval_s=0.5,
        backoff=Backoff(initial_s=0.2, max_s=2.0),
    )
    worker = make_worker(kafka_bootstrap, topics, unique_name, sink)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        early = expected_rows(events[:half])
        _wait_for(
            lambda: _local_counts(second, database, final=True) == early,
            "the first half replicated to the second replica",
        )
        first.stop()  # the node the sink talks to
        publish(kafka_bootstrap, encoded(topics, events[half:]) * 2)
        expected = expected_rows(events)
        _wait_for(
            lambda: _local_counts(second, database, final=True) == expected,
            "the sink failed over to the second replica and wrote the second half",
        )
        first.start()
        _wait_for(
            lambda: (
                _local_counts(first, database, final=False)
                == _local_counts(second, database, final=False)
            ),
            "the restarted replica fetched every part it missed",
        )
    finally:
        stop.set()
        thread.join(timeout=30)
        sink_backend.close()
    assert not thread.is_alive()
    assert uncommitted(kafka_bootstrap, unique_name, stored_topics(topics)) == []
    for replica in (first, second):
        assert _local_counts(replica, database, final=True) == expected
        with _on(replica, database) as through_distributed:
            assert final_counts(through_distributed) == expected
    # Merged for good: each replica then holds each row once, not only under FINAL.
    with _on(first, database) as backend:
        for table in TABLES:
            backend.execute(f"OPTIMIZE TABLE {table}_local FINAL")
    _wait_for(
        lambda: all(
            _local_counts(replica, database, final=False) == expected for replica in (first, second)
        ),
        "the merged parts on every replica",
    )


def _grafana_queries() -> list[tuple[str, str]]:
    """Every SQL text of the Grafana files as exported (panels, variables, annotations, the
    ClickHouse alert rule): what a Grafana pointed at the cluster will send."""
    documents: list[tuple[str, Any]] = [
        (path.name, json.loads(path.read_text()))
        for path in sorted(GRAFANA_DIR.glob("dashboards/*.json"))
    ]
    alerting = GRAFANA_DIR / "provisioning" / "alerting" / "leakguard.yaml"
    documents.append((alerting.name, yaml.safe_load(alerting.read_text())))
    return [
        (f"{name}: {where}", sql)
        for name, document in documents
        for where, sql in _sql_values(document)
    ]


def _sql_values(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """``(path, text)`` of every ``rawSql`` or ``query`` string that is a SELECT."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("rawSql", "query") and isinstance(item, str) and "SELECT" in item:
                yield f"{where}.{key}", item
            else:
                yield from _sql_values(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _sql_values(item, f"{where}[{index}]")


def test_every_dashboard_query_runs_on_each_replica_of_the_cluster(
    clickhouse_cluster: LocalClickHouseCluster, unique_name: str
) -> None:
    database = unique_name.replace("-", "_")
    with closing(_sink_backend(clickhouse_cluster, database)) as backend:
        apply_migrations(backend, cluster=clickhouse_cluster.cluster)
        insert_events(backend, sample_events(frames=SEEDED_FRAMES))  # through Distributed
    queries = _grafana_queries()
    assert len(queries) >= len(PANELS) + len(ANNOTATIONS)
    queries += [(panel.title, panel.sql) for panel in PANELS]
    queries += [("console overview: data start", DATA_START_SQL)]
    end = START + timedelta(days=1)
    for replica in clickhouse_cluster.replicas:
        with _on(replica, database) as node:
            for title, sql in queries:
                rows = node.query(expand_macros(sql, start=START, end=end)).rows
                assert rows, f"{title} on the replica at port {replica.tcp_port}"


def test_a_cluster_the_server_does_not_know_is_refused(
    clickhouse_cluster: LocalClickHouseCluster, unique_name: str
) -> None:
    with (
        closing(_sink_backend(clickhouse_cluster, unique_name.replace("-", "_"))) as backend,
        pytest.raises(SinkError, match="no cluster 'elsewhere'"),
    ):
        apply_migrations(backend, cluster="elsewhere")
