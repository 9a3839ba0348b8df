"""Command-line groups of the streams package, mounted by ``infra/cli.py``:
``leakguard worker --role edge|cloud`` and ``leakguard scanner simulate|watch``.

``streams`` does not import ``infra``: the broker address comes from the same environment
variable the settings use (``LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS``) or ``--bootstrap-servers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

import typer

from streams.config import Role, TopicNames, WorkerConfig

__all__ = ["worker_app"]

#: The settings' variable for the Kafka cluster (infra/settings.py, ``kafka.bootstrap_servers``).
BOOTSTRAP_ENV: Final[str] = "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS"

worker_app = typer.Typer(help="Run a stream worker.", pretty_exceptions_enable=False)

BootstrapOption = Annotated[
    str,
    typer.Option(
        "--bootstrap-servers",
        envvar=BOOTSTRAP_ENV,
        help="Kafka bootstrap servers (start one with `leakguard stack up`).",
    ),
]
PrefixOption = Annotated[
    str, typer.Option("--topic-prefix", help="Prefix of every topic and the app id (tests).")
]


@worker_app.command("worker")
def worker(
    role: Annotated[Role, typer.Option("--role", help="edge: detect; cloud: join, alerts.")],
    bootstrap_servers: BootstrapOption,
    model: Annotated[
        Path | None, typer.Option("--model", help="Model artifact directory (edge).")
    ] = None,
    frame_store: Annotated[
        str, typer.Option("--frame-store", help="Frame store URL (directory or fsspec URL).")
    ] = ".leakguard/frames",
    topic_prefix: PrefixOption = "",
    unreviewed_after_s: Annotated[
        float, typer.Option("--unreviewed-after", help="Seconds until a frame is unreviewed.")
    ] = 600.0,
    expiry_check_s: Annotated[
        float, typer.Option("--expiry-check", help="Seconds between deadline checks.")
    ] = 5.0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Frames per batch.")] = 8,
    batch_timeout_s: Annotated[
        float, typer.Option("--batch-timeout", help="Longest wait for a batch (s).")
    ] = 0.05,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Prometheus /metrics port.")
    ] = None,
    worker_id: Annotated[str, typer.Option("--worker-id", help="Id on dead letters.")] = "",
    loglevel: Annotated[str, typer.Option("--loglevel", help="Faust log level.")] = "info",
) -> None:
    """Run an edge (detect) or cloud (outcome join, alerts, annotation queue) worker."""
    from streams.worker import run_worker

    config = WorkerConfig(
        role=role,
        bootstrap_servers=bootstrap_servers,
        topics=TopicNames().prefixed(topic_prefix),
        app_prefix=topic_prefix,
        worker_id=worker_id,
        model_path=None if model is None else str(model),
        frame_store_url=frame_store,
        batch_size=batch_size,
        batch_timeout_s=batch_timeout_s,
        unreviewed_after_s=unreviewed_after_s,
        expiry_check_s=expiry_check_s,
        metrics_port=metrics_port,
    )
    run_worker(config, loglevel=loglevel)
