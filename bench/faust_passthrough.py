"""A Faust worker that does what the bare benchmark loop does: consume ``detections`` and
``guard.verdicts`` and produce every message's bytes to a scratch topic, nothing else.

Started by :mod:`bench.streams_join` as a subprocess, beside the real cloud worker, to
separate what the outcome join costs from what Faust itself costs per event on the same
broker, machine and app settings (:func:`streams.apps.common.build_faust_app`). Its
progress is the ``leakguard_join_events_in_total`` counter on ``--metrics-port``, as the
cloud worker's, so both are sampled the same way.

``--producer-batch-size 16384`` (Faust's default) is what the cloud app runs with; ``1``
shows what one-record batches would cost. ``--producer-linger-ms`` (Faust's default 0) set
to the cloud app's :data:`~streams.apps.cloud.PRODUCER_LINGER_MS` gives the passthrough the
join's producer settings too.
"""

from __future__ import annotations

import argparse
from typing import Any

import faust

from schemas.topics import Topics
from streams.apps.common import build_faust_app
from streams.config import WorkerConfig
from streams.metrics import WorkerMetrics
from streams.worker import execute_app


def build_passthrough_app(
    config: WorkerConfig, *, producer_batch_size: int, producer_linger_ms: int = 0
) -> faust.App:
    """An app with one agent that forwards every input message's key and bytes to the
    ``outcomes`` topic, counting each in :class:`WorkerMetrics` ``join_events_in``."""
    metrics = WorkerMetrics()
    if config.metrics_port is not None:
        metrics.serve(config.metrics_port, addr="127.0.0.1")
    app = build_faust_app(
        config, producer_max_batch_size=producer_batch_size, producer_linger_ms=producer_linger_ms
    )
    source = app.topic(
        config.topics.detections,
        config.topics.verdicts,
        key_serializer="raw",
        value_serializer="raw",
    )
    scratch = app.topic(config.topics.outcomes, key_serializer="raw", value_serializer="raw")

    @app.agent(source, name="passthrough")
    async def passthrough(stream: Any) -> None:
        async for event in stream.events():
            metrics.join_events_in.inc()
            await scratch.send(key=event.key, value=event.value)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic-prefix", required=True)
    parser.add_argument(
        "--app-prefix", required=True, help="Faust app id (= consumer group) prefix."
    )
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--producer-batch-size", type=int, default=1)
    parser.add_argument("--producer-linger-ms", type=int, default=0)
    args = parser.parse_args()
    config = WorkerConfig(
        role="cloud",
        bootstrap_servers=args.bootstrap,
        topics=Topics().prefixed(args.topic_prefix),
        app_prefix=args.app_prefix,
        metrics_port=args.metrics_port,
    )
    app = build_passthrough_app(
        config,
        producer_batch_size=args.producer_batch_size,
        producer_linger_ms=args.producer_linger_ms,
    )
    execute_app(app, loglevel="warning")


if __name__ == "__main__":
    main()
