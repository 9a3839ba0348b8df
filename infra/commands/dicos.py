"""``leakguard scanner dicos``: the DICOS scanner side: scans in from a folder, simulated
scans written in the same form, threat detection reports out to the scanner's outbox.

Mounted under ``leakguard scanner`` by ``infra/commands/streams.py``, whose broker, prefix,
site and scanner-key options it shares. What of DICOS is covered: ``docs/scanners.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

import typer

from infra.commands.folder_bridge import run_folder_bridge
from infra.commands.kafka_options import (
    BootstrapOption,
    PrefixOption,
    SiteOption,
    bootstrap_servers_or_stack,
    client_config,
    site_stream_topics,
)
from infra.ops import MetricsPortOption, ops_endpoint
from streams.dicos.grouping import DEFAULT_SCAN_TIMEOUT_S, MAX_VIEWS_PER_SCAN

__all__ = ["dicos_app"]

#: Default size cap of one scan file, MiB: two 4096x4096 16-bit planes and their header.
DEFAULT_MAX_FILE_MIB: Final = 65

dicos_app: typer.Typer = typer.Typer(
    help="DICOS scanners: scans in from a folder, threat detection reports out to an outbox.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

CheckpointOption = Annotated[str, typer.Option("--checkpoint", help="Checkpoint id.")]


@dicos_app.command("watch")
def dicos_watch(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Folder the scanner writes DICOS scans (*.dcm) into.",
            exists=True,
            file_okay=False,
            readable=True,
            writable=True,
        ),
    ],
    checkpoint: CheckpointOption,
    bootstrap_servers: BootstrapOption = None,
    lane: Annotated[str, typer.Option("--lane", help="Lane of this scanner.")] = "1",
    once: Annotated[bool, typer.Option("--once", help="Publish what is there, then stop.")] = False,
    max_file_mib: Annotated[
        int, typer.Option("--max-file-mib", min=1, help="Larger files are rejected unread.")
    ] = DEFAULT_MAX_FILE_MIB,
    views_per_scan: Annotated[
        int,
        typer.Option(
            "--views-per-scan",
            min=1,
            max=MAX_VIEWS_PER_SCAN,
            help="Views (files of one Series Instance UID) a scan has: 2 for a dual-view "
            "scanner. They go out as one frame, the top view (else the first) primary.",
        ),
    ] = 1,
    scan_timeout_s: Annotated[
        float,
        typer.Option(
            "--scan-timeout-s",
            min=0.1,
            help="A scan whose views are not all there this long after its first file was "
            "written goes out with the views it has (logged as a warning).",
        ),
    ] = DEFAULT_SCAN_TIMEOUT_S,
    topic_prefix: PrefixOption = "",
    site: SiteOption = None,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Publish every DICOS scan that appears in FOLDER as a frame.

    Each frame carries the scan's identifiers (its primary view's); each file moves to
    done/ once its frame is published, or to rejected/ with a .reason.txt beside it. A view
    waiting for the rest of its scan stays in FOLDER, so a restart reads it again."""
    from streams.dicos.bridge import watch_dicos_folder

    run_folder_bridge(
        folder,
        lambda publisher, should_stop: watch_dicos_folder(
            folder,
            checkpoint=checkpoint,
            lane=lane,
            publish=publisher.publish,
            max_file_bytes=max_file_mib * 2**20,
            views_per_scan=views_per_scan,
            scan_timeout_s=scan_timeout_s,
            should_stop=should_stop,
        ),
        checkpoint=checkpoint,
        bootstrap_servers=bootstrap_servers,
        topics=site_stream_topics(topic_prefix, site),
        once=once,
        metrics_port=metrics_port,
        what="scans",
    )


@dicos_app.command("simulate")
def dicos_simulate(
    folder: Annotated[Path, typer.Argument(help="Folder to write the scans (*.dcm) into.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of scans.")] = 10,
    preset: Annotated[str, typer.Option("--preset", help="Scene preset.")] = "cluttered",
    seed: Annotated[int, typer.Option("--seed", help="Scan i depends on (seed, i) only.")] = 0,
    start: Annotated[int, typer.Option("--start", min=0, help="Index of the first scan.")] = 0,
    size: Annotated[int, typer.Option("--size", min=16, max=4096, help="Image side, px.")] = 640,
    serial: Annotated[
        str, typer.Option("--serial", help="Device Serial Number the scans carry.")
    ] = "leakguard-sim",
    views: Annotated[
        str,
        typer.Option(
            "--views",
            help="Views per scan, comma-separated, one file each: top (always first) and "
            "side (a dual-view scanner; watch it with --views-per-scan 2).",
        ),
    ] = "top",
) -> None:
    """Write simulated scans into FOLDER as a DICOS scanner would.

    Each file holds one view: both energy planes (16-bit), the study, series and SOP
    Instance UIDs, the view name, the device and the acquisition time."""
    from detector.exceptions import SimulationError
    from detector.sim.scenes import get_preset
    from detector.sim.stream import check_views
    from streams.dicos.simulated import write_simulated_scans

    try:
        scene = get_preset(preset)
    except SimulationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--preset") from exc
    try:
        view_names = check_views([view.strip() for view in views.split(",")])
    except SimulationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--views") from exc
    written = write_simulated_scans(
        folder,
        scene,
        count=n,
        seed=seed,
        start=start,
        size_px=size,
        device_serial_number=serial,
        views=view_names,
    )
    for path in written:
        typer.echo(str(path))


@dicos_app.command("reports")
def dicos_reports(
    outbox: Annotated[
        Path,
        typer.Argument(
            help="Folder the scanner reads reports (<SOP Instance UID>.tdr.dcm) from.",
            file_okay=False,
        ),
    ],
    checkpoint: CheckpointOption,
    bootstrap_servers: BootstrapOption = None,
    lane: Annotated[
        str | None, typer.Option("--lane", help="Only this lane's scans (default: every lane).")
    ] = None,
    group_id: Annotated[
        str | None,
        typer.Option(
            "--group",
            help="Consumer group, one per outbox (default: leakguard-dicos-reports-CHECKPOINT).",
            show_default=False,
        ),
    ] = None,
    topic_prefix: PrefixOption = "",
    site: SiteOption = None,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Write a threat detection report into OUTBOX for each scan, until interrupted.

    Every detection of a DICOS scan of this checkpoint becomes <SOP Instance UID>.tdr.dcm.
    With a producer keyring (LEAKGUARD_SECURITY__EVENT_KEYRING), detections an edge did not
    tag are dead-lettered, never reported."""
    from confluent_kafka import Consumer, Producer

    from infra.processes import stop_on_signals
    from infra.settings import load_settings
    from leakguard.health import Checks, writable
    from schemas.consume import worker_config
    from streams.dicos.reports import ReportWriter

    settings = load_settings()
    outbox.mkdir(parents=True, exist_ok=True)
    topics = site_stream_topics(topic_prefix, site)
    servers = bootstrap_servers_or_stack(bootstrap_servers)
    client = {"bootstrap.servers": servers, **client_config()}
    group = group_id or f"{topic_prefix}leakguard-dicos-reports-{checkpoint}"
    writer = ReportWriter(
        consumer=Consumer(worker_config(client, group_id=group)),
        producer=Producer(client),
        topic=topics.detections,
        dead_letter_topic=topics.dead_letters,
        outbox=outbox,
        checkpoint=checkpoint,
        lane=lane,
        keyring=settings.security.keyring(),
    )
    stop = stop_on_signals()
    typer.echo(f"writing reports of {checkpoint} to {outbox}; Ctrl-C stops")
    checks = writer.checks() | Checks(ready={"outbox": writable(outbox, what="outbox")})
    with ops_endpoint(
        settings,
        port=metrics_port,
        bootstrap_servers=servers,
        checks=checks,
        group=group,
        topics=[topics.detections],
    ):
        writer.run(stop)
    typer.echo(f"{writer.written} reports written")
