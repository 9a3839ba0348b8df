"""The cluster DDL templates: how they are filled in, and that modern ClickHouse (chdb)
takes what 18.16 cannot be asked (TTL); and the URL naming a cluster's other nodes. The
cluster itself is tested in test_clickhouse_cluster.py."""

from __future__ import annotations

import re

import pytest

from sinks.clickhouse.backend import ChdbBackend, DriverBackend
from sinks.clickhouse.cluster import CLUSTER_MIGRATIONS_DIR, ClusterTarget
from sinks.clickhouse.migrations import load_migrations
from sinks.clickhouse.rows import TABLES
from sinks.exceptions import MigrationError, QueryError

#: A replicated engine with its ZooKeeper path, replica name and optional version column.
_REPLICATED = re.compile(r"ReplicatedReplacingMergeTree\('[^']*', '[^']*'(?:, (\w+))?\)")


def _statements() -> list[str]:
    return [
        s for migration in load_migrations(CLUSTER_MIGRATIONS_DIR) for s in migration.statements
    ]


def test_every_statement_runs_on_the_whole_cluster_in_the_named_database() -> None:
    for statement in _statements():
        assert re.search(r"ON CLUSTER \{cluster\}", statement), statement
        name = re.match(r"CREATE (?:TABLE|VIEW) IF NOT EXISTS (\S+)", statement)
        assert name is not None
        assert name.group(1).startswith("{database}."), statement


def test_each_table_is_replicated_on_every_node_and_distributed_under_its_own_name() -> None:
    created = set(
        re.findall(
            r"^CREATE TABLE IF NOT EXISTS \{database\}\.(\w+)", "\n".join(_statements()), re.M
        )
    )
    assert created == set(TABLES) | {f"{table}_local" for table in TABLES}


def test_the_template_is_filled_in_and_ttl_written_only_where_the_server_has_it() -> None:
    statement = next(s for s in _statements() if "detection_frames_local" in s)
    with_ttl = ClusterTarget(cluster="fleet", database="analytics", ttl=True).render(statement)
    without = ClusterTarget(cluster="fleet", database="analytics", ttl=False).render(statement)
    assert "ON CLUSTER fleet" in with_ttl
    assert "'/clickhouse/tables/{shard}/analytics/detection_frames', '{replica}'" in with_ttl
    assert with_ttl.rstrip().endswith("TTL event_time + INTERVAL 730 DAY")
    assert "TTL" not in without
    assert "{cluster}" not in without
    assert "{database}" not in without


@pytest.mark.parametrize("name", ["fleet-1", "a b", "x;DROP", ""])
def test_names_that_are_not_identifiers_are_refused(name: str) -> None:
    with pytest.raises(MigrationError, match="not a plain identifier"):
        ClusterTarget(cluster=name, database="analytics", ttl=False)


def test_modern_clickhouse_takes_the_replicated_tables_with_their_ttl(
    chdb_backend: ChdbBackend,
) -> None:
    """chdb has no ZooKeeper, so each replicated table is created as the single-node engine
    it wraps: what is checked is the rest, the TTL clauses, LowCardinality and sort keys
    that 18.16 cannot show."""
    target = ClusterTarget(cluster="fleet", database=chdb_backend.database, ttl=True)
    for statement in _statements():
        if "Distributed(" in statement or statement.startswith("CREATE VIEW"):
            continue
        local = _REPLICATED.sub(
            lambda match: f"ReplacingMergeTree({match.group(1) or ''})",
            target.render(statement).replace(" ON CLUSTER fleet", ""),
        )
        chdb_backend.execute(local)
    for table in TABLES:
        create = chdb_backend.query(f"SHOW CREATE TABLE {table}_local").rows[0][0]
        assert "TTL event_time + toIntervalDay(" in create, table
        assert "LowCardinality(String)" in create, table


def test_the_url_names_the_nodes_to_fail_over_to_and_nothing_else() -> None:
    with pytest.raises(QueryError, match=r"unknown ClickHouse URL parameters \['secure'\]"):
        DriverBackend(url="clickhouse://ch-a:9000/db?secure=1", database="db", client=object())
    DriverBackend(
        url="clickhouse://ch-a:9000/db?alt_hosts=ch-b:9000", database="db", client=object()
    )
