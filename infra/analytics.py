"""Wiring from settings: the analytics backend and the sink worker a process runs.

The commands and the demo build their collaborators here, so the classes themselves stay free of
settings and environment (they take everything keyword-only and are tested with real local
services).
"""

from __future__ import annotations

from typing import Any, Final

from infra.settings import LeakguardSettings
from infra.sites import fleet_routes
from schemas.consume import worker_config
from schemas.topics import Topics
from sinks.clickhouse.backend import AnalyticsBackend, ChdbBackend, DriverBackend
from sinks.clickhouse.batching import Backoff, BatchingSink
from sinks.clickhouse.migrations import MigrationReport, apply_migrations
from sinks.clickhouse.rows import STORED_EVENTS
from sinks.clickhouse.worker import SinkWorker

__all__ = ["CLUSTER_QUERY_SETTINGS", "build_sink_worker", "migrate", "open_backend"]

#: On a cluster an insert into a Distributed table returns once a replica of every shard it
#: touches holds the rows, not when they are queued on the node the sink talks to: the sink
#: commits its offsets after the insert, so queued rows lost with that node would be lost.
CLUSTER_QUERY_SETTINGS: Final[dict[str, Any]] = {"insert_distributed_sync": 1}


def open_backend(settings: LeakguardSettings) -> AnalyticsBackend:
    """The configured ClickHouse server (a node of the cluster, when one is set), or embedded
    chdb under the data dir."""
    clickhouse = settings.clickhouse
    if clickhouse.url is None:
        return ChdbBackend(database=clickhouse.database, path=settings.chdb_path)
    password = clickhouse.password.get_secret_value() if clickhouse.password else None
    return DriverBackend(
        url=clickhouse.url,
        database=clickhouse.database,
        password=password,
        settings=CLUSTER_QUERY_SETTINGS if clickhouse.cluster else None,
    )


def migrate(settings: LeakguardSettings, backend: AnalyticsBackend) -> MigrationReport:
    """Apply the DDL the settings call for: the cluster's on every node, else one node's."""
    return apply_migrations(backend, cluster=settings.clickhouse.cluster)


def build_sink_worker(
    settings: LeakguardSettings, *, backend: AnalyticsBackend, bootstrap_servers: str
) -> SinkWorker:
    """A sink worker on every analytics topic of the spec and every site's copies
    (``LEAKGUARD_SITES``), batching as settings say."""
    from confluent_kafka import Consumer, Producer

    topics = Topics()
    client = {"bootstrap.servers": bootstrap_servers, **settings.kafka.client_config()}
    consumer = Consumer(
        worker_config(
            client,
            group_id=settings.sink.group_id,
            client_id=f"{settings.kafka.client_id_prefix}-clickhouse-sink",
        )
    )
    sink = BatchingSink(
        backend=backend,
        max_batch_rows=settings.sink.max_batch_rows,
        flush_interval_s=settings.sink.flush_interval_s,
        backoff=Backoff(max_s=settings.sink.retry_max_s),
    )
    return SinkWorker(
        consumer=consumer,
        sink=sink,
        topic_events=fleet_routes(topics, settings.sites, STORED_EVENTS),
        producer=Producer(client),
        dead_letter_topic=topics.dead_letters,
    )
