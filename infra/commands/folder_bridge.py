"""The run of a scanner folder bridge, whatever files it reads (PNG exports, DICOS scans):
the frame publisher, the health endpoint and its checks, the summary line. The commands
only say how to read the folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from infra.commands.kafka_options import bootstrap_servers_or_stack, client_config, scanner_tag
from infra.ops import ops_endpoint
from leakguard.health import Checks, Heartbeat, writable
from schemas.topics import Topics
from streams.sources import FramePublisher, WatchReport

__all__ = ["Watch", "run_folder_bridge"]

#: Reads the folder: given how to publish a frame and when to stop, returns what it did.
Watch = Callable[[FramePublisher, Callable[[], bool]], WatchReport]


def run_folder_bridge(
    folder: Path,
    watch: Watch,
    *,
    checkpoint: str,
    bootstrap_servers: str | None,
    topics: Topics,
    once: bool,
    metrics_port: int | None,
    what: str,
) -> None:
    """Publish what ``watch`` finds in ``folder`` as ``checkpoint``'s scanner (frames tagged
    with its key), serving /healthz on ``metrics_port``; prints how many ``what`` were
    published and where the rejected files are."""
    from infra.settings import load_settings
    from schemas.consume import LOOP_STALL_S

    servers = bootstrap_servers_or_stack(bootstrap_servers)
    publisher = FramePublisher(
        topic=topics.frames,
        bootstrap_servers=servers,
        client_config=client_config(),
        tag=scanner_tag(checkpoint),
    )
    heartbeat = Heartbeat(what="folder loop", max_silence_s=LOOP_STALL_S)

    def should_stop() -> bool:
        heartbeat.beat()
        return once

    checks = Checks(live={"loop": heartbeat}, ready={"folder": writable(folder, what="folder")})
    try:
        with ops_endpoint(
            load_settings(),
            port=metrics_port,
            bootstrap_servers=servers,
            checks=checks,
            kafka_client=publisher.producer,
        ):
            report = watch(publisher, should_stop)
    finally:
        publisher.flush()
    typer.echo(f"published {report.published} {what}, rejected {report.rejected}")
    if report.rejected:
        typer.echo(f"rejected files and their reasons are in {folder / 'rejected'}", err=True)
    if report.held:
        typer.echo(f"{report.held} files wait in {folder} for the rest of their frame", err=True)
