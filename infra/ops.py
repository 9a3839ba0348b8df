"""Wiring of the operations endpoint and the log format for every long-running command.

Each command builds its worker, asks it for its health checks, and runs it inside
:func:`ops_endpoint`, which adds what every Kafka client shares (the broker check and, for
a consumer group, the group's lag) and serves ``/metrics``, ``/healthz`` and ``/livez`` on
``--metrics-port``. The stream workers wire the same pieces in :mod:`streams.worker`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import click
import typer
from prometheus_client import CollectorRegistry

from infra.settings import LeakguardSettings, load_settings
from leakguard.endpoint import OpsEndpoint
from leakguard.health import Checks, Health
from leakguard.logs import LogFormat
from schemas.kafka_health import GroupLag, broker_check

__all__ = ["MetricsPortOption", "log_format", "ops_endpoint"]

MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve /metrics, /healthz and /livez on this port. Default: "
        "LEAKGUARD_METRICS_PORT, else not served.",
        show_default=False,
    ),
]


def log_format() -> LogFormat:
    """The log format the command line chose: the root's ``--log-format``, else
    ``LEAKGUARD_LOG_FORMAT``."""
    context = click.get_current_context(silent=True)
    chosen = None if context is None else context.find_root().params.get("log_format")
    if chosen is not None:
        return "json" if chosen == "json" else "text"
    return load_settings().log_format


@contextmanager
def ops_endpoint(
    settings: LeakguardSettings,
    *,
    port: int | None,
    bootstrap_servers: str,
    checks: Checks,
    group: str | None = None,
    topics: Sequence[str] = (),
    registry: CollectorRegistry | None = None,
    kafka_client: Any = None,
) -> Iterator[Health]:
    """Serve ``checks`` and ``registry`` on ``port`` (else ``LEAKGUARD_METRICS_PORT``)
    while the block runs (nothing without a port), with the readiness check ``broker`` and,
    for a consumer ``group``, its lag on ``topics`` (``leakguard_consumer_lag``). A command
    without a group names the Kafka client the broker check asks (``kafka_client``)."""
    health = Health(checks)
    port = port if port is not None else settings.metrics_port
    if port is None:
        yield health
        return
    registry = registry if registry is not None else CollectorRegistry()
    client = {"bootstrap.servers": bootstrap_servers, **settings.kafka.client_config()}
    lag = None
    if group is not None:
        lag = GroupLag(client=client, group=group, topics=topics, registry=registry)
        kafka_client = lag.consumer
    if kafka_client is None:
        raise ValueError("ops_endpoint needs a consumer group or a Kafka client to check")
    health.add(Checks(ready={"broker": broker_check(kafka_client)}))
    endpoint = OpsEndpoint(port=port, registry=registry, health=health).start()
    if lag is not None:
        lag.start()
    try:
        yield health
    finally:
        endpoint.stop()
        if lag is not None:
            lag.stop()
