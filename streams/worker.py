"""Running one stream worker process: create the internal topics, build the role's app,
expose metrics, hand the app to a Faust worker (which owns the event loop and signals)."""

from __future__ import annotations

import faust

from streams.config import WorkerConfig
from streams.kafka_admin import ensure_topics
from streams.metrics import WorkerMetrics
from streams.rollout.config import RolloutConfig

__all__ = ["execute_app", "run_worker"]


def _build(config: WorkerConfig, rollout: RolloutConfig | None) -> tuple[faust.App, WorkerMetrics]:
    if config.role == "edge":
        from streams.apps.edge import build_edge_app  # imports torch

        edge = build_edge_app(config, rollout=rollout)
        return edge.app, edge.metrics
    from streams.apps.cloud import build_cloud_app

    cloud = build_cloud_app(config)
    return cloud.app, cloud.metrics


def run_worker(
    config: WorkerConfig,
    *,
    loglevel: str = "info",
    rollout: RolloutConfig | None = None,
) -> None:
    """Run the worker of ``config.role`` until it is stopped (SIGTERM/SIGINT: clean stop).

    ``rollout`` (edge only) runs the model manager beside the detect agent. The topic
    admin client gets ``config.client_config``, the security settings the Faust app gets.

    Blocks; Faust's worker ends the process through ``SystemExit`` when it stops.
    """
    ensure_topics(
        config.bootstrap_servers, config.internal_topics(), client_config=config.client_config
    )
    app, metrics = _build(config, rollout)
    if config.metrics_port is not None:
        metrics.serve(config.metrics_port)
    execute_app(app, loglevel=loglevel)


def execute_app(app: faust.App, *, loglevel: str = "info") -> None:
    """Run ``app`` in a Faust worker without its terminal spinner, until it is stopped."""
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    # Faust's terminal spinner sets the root logger to DEBUG so that it can spin on every
    # record: each aiokafka and Faust debug call then builds a record and writes escape
    # codes (a tenth of the cloud join's CPU in a py-spy profile). A worker is a service.
    worker.spinner = None
    worker.execute_from_commandline()
