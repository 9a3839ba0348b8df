"""Running one stream worker process: create the internal topics, serve the operations
endpoint, build the role's app, hand it to a Faust worker (which owns the event loop and
signals).

The endpoint (``/metrics``, ``/healthz``, ``/livez`` on ``metrics_port``) answers from the
start, so an orchestrator sees an edge that is still loading its model as alive but not
ready, rather than as a closed port.
"""

from __future__ import annotations

import faust

from leakguard.endpoint import OpsEndpoint
from leakguard.health import Checks, Health
from leakguard.logs import LogFormat, logging_config
from schemas.kafka_health import GroupLag, broker_check
from streams.config import WorkerConfig
from streams.health import FaustWatch, frame_store_check, model_check, thread_check
from streams.kafka_admin import ensure_topics
from streams.metrics import WorkerMetrics
from streams.rollout.config import RolloutConfig

__all__ = ["execute_app", "run_worker"]


def _build(
    config: WorkerConfig, rollout: RolloutConfig | None, metrics: WorkerMetrics
) -> tuple[faust.App, Checks]:
    """The role's app and its own checks (model and frame store; the model manager)."""
    if config.role == "edge":
        from streams.apps.edge import build_edge_app  # imports torch

        edge = build_edge_app(config, rollout=rollout, metrics=metrics)
        checks = Checks(ready={"model": model_check(lambda: edge.detector.engine.model_version)})
        if edge.detector.store is not None:
            checks = checks | Checks(ready={"frame_store": frame_store_check(edge.detector.store)})
        if edge.rollout is not None:
            manager = thread_check(edge.rollout.thread, what="model manager")
            checks = checks | Checks(live={"model_manager": manager})
        return edge.app, checks
    from streams.apps.cloud import build_cloud_app

    cloud = build_cloud_app(config, metrics=metrics)
    return cloud.app, Checks(ready={"frame_store": frame_store_check(cloud.store)})


def run_worker(
    config: WorkerConfig,
    *,
    loglevel: str = "info",
    log_format: LogFormat = "text",
    rollout: RolloutConfig | None = None,
) -> None:
    """Run the worker of ``config.role`` until it is stopped (SIGTERM/SIGINT: clean stop).

    ``rollout`` (edge only) runs the model manager beside the detect agent. The topic
    admin client gets ``config.client_config``, the security settings the Faust app gets.
    With ``config.metrics_port`` the operations endpoint serves the worker's metrics, its
    group's lag and its health there.

    Blocks; Faust's worker ends the process through ``SystemExit`` when it stops.
    """
    ensure_topics(
        config.bootstrap_servers,
        config.internal_topics(),
        client_config=config.client_config,
        configs=config.internal_topic_configs(),
    )
    metrics = WorkerMetrics()
    health = Health()
    if config.metrics_port is not None:
        lag = GroupLag(
            client={"bootstrap.servers": config.bootstrap_servers, **config.client_config},
            group=config.app_id,
            topics=config.consumed_topics(),
            registry=metrics.registry,
        )
        health.add(Checks(ready={"broker": broker_check(lag.consumer)}))
        OpsEndpoint(port=config.metrics_port, registry=metrics.registry, health=health).start()
        lag.start()
    doing = "loading the model" if config.role == "edge" else "building the app"
    built = health.pending("startup", doing)
    app, role_checks = _build(config, rollout, metrics)
    built(FaustWatch(app).checks() | role_checks)
    execute_app(app, loglevel=loglevel, log_format=log_format)


def execute_app(app: faust.App, *, loglevel: str = "info", log_format: LogFormat = "text") -> None:
    """Run ``app`` in a Faust worker without its terminal spinner, until it is stopped;
    ``log_format`` ``json`` writes one JSON object per log line (:mod:`leakguard.logs`)."""
    worker = faust.Worker(
        app,
        loglevel=loglevel,
        quiet=True,
        redirect_stdouts=False,
        logging_config=logging_config(loglevel.upper(), log_format),
    )
    # Faust's terminal spinner sets the root logger to DEBUG so that it can spin on every
    # record: each aiokafka and Faust debug call then builds a record and writes escape
    # codes (a tenth of the cloud join's CPU in a py-spy profile). A worker is a service.
    worker.spinner = None
    worker.execute_from_commandline()
