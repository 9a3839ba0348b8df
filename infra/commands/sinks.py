"""``leakguard analytics`` (DDL, sink worker) and ``leakguard dashboards`` (Grafana).

Mounted lazily by ``infra/cli.py`` so ``leakguard --help`` stays free of the ClickHouse and
Kafka client imports.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from infra.analytics import build_sink_worker, migrate, open_backend
from infra.ops import MetricsPortOption, ops_endpoint
from infra.processes import stop_on_signals
from infra.settings import LeakguardSettings, load_settings
from infra.stack import require_bootstrap_servers
from leakguard.health import Checks, writable
from schemas.consume import worker_config
from schemas.events import RolloutModeName
from schemas.topics import Topics
from sinks.dashboards.grafana import DEFAULT_EXPORT_DIR, export
from sinks.dashboards.push import GrafanaPublisher
from sinks.exceptions import SinkError

console = Console()

app = typer.Typer(
    help="ClickHouse analytics: DDL migrations and the sink worker.", no_args_is_help=True
)


ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="ClickHouse cluster (remote_servers name) the URL's server belongs to; "
        "default LEAKGUARD_CLICKHOUSE__CLUSTER, unset: one node.",
    ),
]


def _settings(cluster: str | None) -> LeakguardSettings:
    """The settings, with ``--cluster`` over ``LEAKGUARD_CLICKHOUSE__CLUSTER``."""
    return load_settings(clickhouse={"cluster": cluster}) if cluster else load_settings()


@app.command("migrate")
def migrate_command(cluster: ClusterOption = None) -> None:
    """Apply the DDL the database lacks (idempotent): infra/clickhouse/migrations on one
    node, infra/clickhouse/cluster ON CLUSTER with --cluster."""
    settings = _settings(cluster)
    backend = open_backend(settings)
    try:
        report = migrate(settings, backend)
    finally:
        backend.close()
    where = settings.clickhouse.url or f"chdb under {settings.chdb_path}"
    if settings.clickhouse.cluster:
        where += f" (cluster {settings.clickhouse.cluster})"
    applied = ", ".join(f"{v:04d}" for v in report.applied) or "none"
    console.print(f"database {backend.database} on {where}: applied {applied}")
    console.print(f"already present: {len(report.present)}")


@app.command("sink")
def sink(cluster: ClusterOption = None, metrics_port: MetricsPortOption = None) -> None:
    """Consume the analytics topics into ClickHouse until interrupted (Ctrl-C, SIGTERM)."""
    settings = _settings(cluster)
    backend = open_backend(settings)
    stop = stop_on_signals()
    try:
        migrate(settings, backend)
        servers = require_bootstrap_servers(settings)
        worker = build_sink_worker(settings, backend=backend, bootstrap_servers=servers)
        console.print(f"sink running into database {backend.database}; Ctrl-C stops it")
        with ops_endpoint(
            settings,
            port=metrics_port,
            bootstrap_servers=servers,
            checks=worker.checks(),
            group=settings.sink.group_id,
            topics=worker.topics,
            registry=worker.registry,
        ):
            worker.run(stop)
    finally:
        backend.close()


dashboards_app = typer.Typer(
    help="Grafana dashboards as code: export, push, annotate.", no_args_is_help=True
)


@dashboards_app.command("export")
def dashboards_export(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write dashboards/ and provisioning/.")
    ] = DEFAULT_EXPORT_DIR,
) -> None:
    """Write the dashboard JSON and the Grafana provisioning files (data sources, dashboards,
    alert rules with the LEAKGUARD_ALERT_RULES__* thresholds; default infra/grafana)."""
    settings = load_settings()
    for path in export(
        directory, database=settings.clickhouse.database, thresholds=settings.alert_rules
    ):
        console.print(f"wrote {path}")


def _publisher() -> GrafanaPublisher:
    grafana = load_settings().grafana
    if grafana.url is None:
        raise SinkError("set LEAKGUARD_GRAFANA__URL (and LEAKGUARD_GRAFANA__API_TOKEN)")
    token = grafana.api_token.get_secret_value() if grafana.api_token else None
    return GrafanaPublisher(url=grafana.url, token=token)


@dashboards_app.command("push")
def dashboards_push() -> None:
    """Upload the dashboards to the Grafana of LEAKGUARD_GRAFANA__URL (idempotent)."""
    folder = load_settings().grafana.folder_uid
    for answer in _publisher().push_dashboards(folder_uid=folder):
        console.print(f"pushed {answer.get('uid')} version {answer.get('version')}")


@dashboards_app.command("annotate-rollout")
def dashboards_annotate_rollout(
    model_version: Annotated[str, typer.Option(help="The model rolled out.")],
    mode: Annotated[RolloutModeName, typer.Option(help="Rollout mode.")],
) -> None:
    """Post a rollout annotation (now) on the leakguard dashboard."""
    answer = _publisher().annotate_rollout(
        model_version=model_version, rollout_mode=mode, at=datetime.now(UTC)
    )
    console.print(f"annotation {answer.get('id')} added")


@dashboards_app.command("annotate")
def dashboards_annotate(
    group_id: Annotated[
        str, typer.Option(help="Consumer group; one group per Grafana, so each posts once.")
    ] = "leakguard-grafana-annotations",
    metrics_port: MetricsPortOption = None,
) -> None:
    """Post every rollout (model.updates) and alert as a Grafana annotation, until interrupted.

    Idempotent: re-delivered events find the annotation they made (tag id:<key>).
    """
    from confluent_kafka import Consumer, Producer

    from sinks.dashboards.annotator import ANNOTATED_EVENTS, AnnotationWorker

    settings = load_settings()
    publisher = _publisher()  # the Grafana settings first: checking them needs no network
    servers = require_bootstrap_servers(settings)
    client = {"bootstrap.servers": servers, **settings.kafka.client_config()}
    topics = Topics()
    routes = topics.routes(ANNOTATED_EVENTS)
    worker = AnnotationWorker(
        consumer=Consumer(worker_config(client, group_id=group_id)),
        publisher=publisher,
        topic_events=routes,
        producer=Producer(client),
        dead_letter_topic=topics.dead_letters,
    )  # fmt: skip
    stop = stop_on_signals()
    console.print(f"annotating {settings.grafana.url} from rollouts and alerts; Ctrl-C stops")
    with ops_endpoint(
        settings,
        port=metrics_port,
        bootstrap_servers=servers,
        checks=worker.checks(),
        group=group_id,
        topics=list(routes),
    ):
        worker.run(stop)
    console.print(f"{worker.posted} annotations posted or found")


alerts_app = typer.Typer(help="Alert delivery to the control centre.", no_args_is_help=True)


@alerts_app.callback()
def alerts_group() -> None:
    """Alert delivery to the control centre (`leakguard alerts deliver`)."""


@alerts_app.command("deliver")
def alerts_deliver(metrics_port: MetricsPortOption = None) -> None:
    """Consume the alerts topic and deliver every alert until interrupted."""
    from confluent_kafka import Consumer, Producer

    from sinks.alerts.delivery import AlertDelivery
    from sinks.alerts.store import DeliveryStore
    from sinks.alerts.worker import AlertWorker

    settings = load_settings()
    alerts = settings.alerts
    if alerts.endpoint_url is None or alerts.hmac_key is None:
        raise SinkError("set LEAKGUARD_ALERTS__ENDPOINT_URL and LEAKGUARD_ALERTS__HMAC_KEY")
    servers = require_bootstrap_servers(settings)
    client = {"bootstrap.servers": servers, **settings.kafka.client_config()}
    topics = Topics()
    store_path = settings.data_dir / alerts.state_file_name
    store = DeliveryStore(path=store_path)
    delivery = AlertDelivery(
        endpoint=alerts.endpoint_url,
        key=alerts.hmac_key.get_secret_value().encode(),
        store=store,
    )
    worker = AlertWorker(
        consumer=Consumer(worker_config(client, group_id=alerts.group_id)),
        delivery=delivery,
        topic=topics.alerts,
        producer=Producer(client),
        dead_letter_topic=topics.dead_letters,
        keyring=settings.security.keyring(),
    )  # fmt: skip
    stop = stop_on_signals()
    console.print(f"delivering alerts to {alerts.endpoint_url}; Ctrl-C stops")
    checks = worker.checks() | Checks(
        ready={"delivery_store": writable(store_path.parent, what="delivery store folder")}
    )
    try:
        with ops_endpoint(
            settings,
            port=metrics_port,
            bootstrap_servers=servers,
            checks=checks,
            group=alerts.group_id,
            topics=[topics.alerts],
        ):
            worker.run(stop)
    finally:
        delivery.close()
        store.close()
