"""Command-line groups of the streams package, mounted by ``infra/cli.py``:
``leakguard worker --role edge|cloud`` and ``leakguard scanner simulate|watch|guards``.

The broker is ``--bootstrap-servers``, else ``LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS``, else the
broker ``leakguard stack up`` started. Only this CLI layer reads ``infra``'s settings and
stack record (as ``infra/commands/sinks.py`` does); the library code below it takes plain values.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from infra.commands.choices import DriftName, FaustLogLevel
from infra.commands.dicos import dicos_app
from infra.commands.folder_bridge import run_folder_bridge
from infra.commands.kafka_options import (
    BootstrapOption,
    PrefixOption,
    SiteOption,
    bootstrap_servers_or_stack,
    client_config,
    event_keyring_path,
    scanner_tag,
    site_of,
    site_stream_topics,
)
from infra.ops import MetricsPortOption, log_format
from infra.progress import track
from infra.sites import site_catalogues
from leakguard.classes import DEFAULT_ALARM_THRESHOLD
from schemas.rollback import (
    DEFAULT_MAX_FALSE_ALARM_INCREASE,
    DEFAULT_MAX_MISS_INCREASE,
    DEFAULT_MIN_OUTCOMES,
    DEFAULT_ROLLBACK_CONFIDENCE,
    RollbackBounds,
)
from schemas.topics import Topics
from streams.config import (
    DEFAULT_EXPIRY_CHECK_S,
    DEFAULT_FRAME_SWEEP_INTERVAL_S,
    DEFAULT_UNREVIEWED_AFTER_S,
    Role,
    WorkerConfig,
)
from streams.exceptions import StreamsConfigError
from streams.frame_store import DEFAULT_KEPT_RETENTION_S, DEFAULT_STAGING_RETENTION_S
from streams.rollout.config import RolloutConfig
from streams.tip import TipRates

__all__ = ["scanner_app", "worker_app"]

worker_app = typer.Typer(help="Run a stream worker.", pretty_exceptions_enable=False)


@worker_app.command("worker")
def worker(
    role: Annotated[Role, typer.Option("--role", help="edge: detect; cloud: join, alerts.")],
    bootstrap_servers: BootstrapOption = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="Model artifact directory (edge).")
    ] = None,
    alarm_threshold: Annotated[
        float,
        typer.Option(
            "--alarm-threshold",
            min=0.0,
            max=1.0,
            help="Edge: score at which a storage medium alarms (every model it serves; a "
            "retrained model calibrated for this threshold alarms at its own, docs/retrain.md).",
        ),
    ] = DEFAULT_ALARM_THRESHOLD,
    device: Annotated[
        str,
        typer.Option(
            "--device", help="Edge: cpu, cuda or cuda:N, for the served and every rolled-out model."
        ),
    ] = "cpu",
    frame_store: Annotated[
        str, typer.Option("--frame-store", help="Frame store URL (directory or fsspec URL).")
    ] = ".leakguard/frames",
    claim_check_roots: Annotated[
        list[str] | None,
        typer.Option(
            "--claim-check-root",
            help="Edge: a directory or fsspec URL scanners write claim-check images under "
            "(repeatable; none: inline frames only). Frames naming anything else are "
            "dead-lettered.",
        ),
    ] = None,
    topic_prefix: PrefixOption = "",
    sites: Annotated[
        list[str] | None,
        typer.Option(
            "--site",
            help="Edge: the site it serves, its frames from scanner.frames.SITE in group "
            "leakguard-edge-SITE (default: LEAKGUARD_SITE). Cloud: a site whose detections "
            "and verdicts it joins besides the fleet-wide ones (repeatable; default: "
            "LEAKGUARD_SITES).",
            show_default=False,
        ),
    ] = None,
    unreviewed_after_s: Annotated[
        float, typer.Option("--unreviewed-after", help="Seconds until a frame is unreviewed.")
    ] = DEFAULT_UNREVIEWED_AFTER_S,
    expiry_check_s: Annotated[
        float, typer.Option("--expiry-check", help="Seconds between deadline checks.")
    ] = DEFAULT_EXPIRY_CHECK_S,
    staging_retention_h: Annotated[
        float,
        typer.Option("--staging-retention-hours", help="Keep staged frame images (cloud)."),
    ] = DEFAULT_STAGING_RETENTION_S / 3600,
    kept_retention_h: Annotated[
        float,
        typer.Option("--kept-retention-hours", help="Keep TP/FP/FN frame images (cloud)."),
    ] = DEFAULT_KEPT_RETENTION_S / 3600,
    sweep_interval_s: Annotated[
        float,
        typer.Option("--sweep-interval", help="Seconds between frame store sweeps (cloud)."),
    ] = DEFAULT_FRAME_SWEEP_INTERVAL_S,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Frames per batch.")] = 8,
    batch_timeout_s: Annotated[
        float, typer.Option("--batch-timeout", help="Longest wait for a batch (s).")
    ] = 0.05,
    metrics_port: MetricsPortOption = None,
    worker_id: Annotated[str, typer.Option("--worker-id", help="Id on dead letters.")] = "",
    loglevel: Annotated[
        FaustLogLevel, typer.Option("--loglevel", help="Faust log level.")
    ] = "info",
    trusted_keys: Annotated[
        list[Path] | None,
        typer.Option(
            "--trusted-key",
            help="Edge: PEM public key whose signed models may be rolled out (repeatable; "
            "`leakguard models export-key`). Without one, model.updates are ignored.",
        ),
    ] = None,
    checkpoint: Annotated[
        str | None,
        typer.Option("--checkpoint", help="Edge: the checkpoint served (default: every one)."),
    ] = None,
    model_cache: Annotated[
        str, typer.Option("--model-cache", help="Edge: where verified models are copied.")
    ] = ".leakguard/model-cache",
    artifact_roots: Annotated[
        list[str] | None,
        typer.Option(
            "--artifact-root",
            help="Edge: a directory or fsspec URL rolled-out models may be fetched from "
            "(repeatable, e.g. the registry's models folder); default: wherever a signed "
            "decision names.",
        ),
    ] = None,
    rollback_min_outcomes: Annotated[
        int, typer.Option("--rollback-min-outcomes", help="Edge: outcomes before judging.")
    ] = DEFAULT_MIN_OUTCOMES,
    max_false_alarm_increase: Annotated[
        float,
        typer.Option("--max-false-alarm-increase", help="Edge: rollback bound on false alarms."),
    ] = DEFAULT_MAX_FALSE_ALARM_INCREASE,
    max_miss_increase: Annotated[
        float, typer.Option("--max-miss-increase", help="Edge: rollback bound on misses.")
    ] = DEFAULT_MAX_MISS_INCREASE,
    rollback_confidence: Annotated[
        float,
        typer.Option(
            "--rollback-confidence",
            help="Edge: one-sided confidence that a rate rose beyond its bound before a "
            "rollback (docs/retrain.md).",
        ),
    ] = DEFAULT_ROLLBACK_CONFIDENCE,
    status_interval_s: Annotated[
        float, typer.Option("--status-interval", help="Edge: seconds between trial reports.")
    ] = 30.0,
    tip_rates: Annotated[
        list[str] | None,
        typer.Option(
            "--tip-rate",
            help="Edge: threat image projection, CHECKPOINT/LANE=RATE (or CHECKPOINT/*=RATE, "
            "*=RATE): that share of the lane's frames gets a simulated medium projected in "
            "to test the guard (repeatable; needs leakguard[sim]; docs/tip.md).",
        ),
    ] = None,
    tip_seed: Annotated[
        int, typer.Option("--tip-seed", help="Edge: seed of which frames and media are projected.")
    ] = 0,
) -> None:
    """Run an edge (detect) or cloud (outcome join, alerts, annotation queue) worker."""
    from streams.worker import run_worker

    rollout = None
    if role == "edge" and trusted_keys:
        rollout = RolloutConfig(
            trusted_key_paths=tuple(str(path) for path in trusted_keys),
            cache_dir=model_cache,
            artifact_roots=tuple(artifact_roots or ()),
            checkpoint=checkpoint,
            bounds=RollbackBounds(
                min_outcomes=rollback_min_outcomes,
                max_false_alarm_increase=max_false_alarm_increase,
                max_miss_increase=max_miss_increase,
                confidence=rollback_confidence,
            ),
            status_interval_s=status_interval_s,
            topics=Topics().prefixed(topic_prefix),
        )

    from infra.settings import load_settings
    from infra.topic_overrides import effective_spec
    from infra.topics import join_partitions

    settings = load_settings()
    if metrics_port is None:
        metrics_port = settings.metrics_port
    edge_site, joined_sites = _worker_sites(role, sites or [], settings.sites)
    # The join's internal topics were created by `topics apply` from the same spec and
    # overlay; a worker sized otherwise would refuse them (or split the join). The sites'
    # copies are checked with it: one with another partition count would split the join.
    spec = effective_spec(settings.kafka.topic_spec, settings.kafka.topic_overrides, joined_sites)
    config = WorkerConfig(
        role=role,
        bootstrap_servers=bootstrap_servers_or_stack(bootstrap_servers),
        client_config=client_config(),
        topics=site_stream_topics(topic_prefix, edge_site),
        site=edge_site,
        site_topics=site_catalogues(Topics().prefixed(topic_prefix), joined_sites),
        app_prefix=topic_prefix,
        worker_id=worker_id,
        model_path=None if model is None else str(model),
        alarm_threshold=alarm_threshold,
        device=device,
        frame_store_url=frame_store,
        claim_check_roots=tuple(claim_check_roots or ()),
        batch_size=batch_size,
        batch_timeout_s=batch_timeout_s,
        unreviewed_after_s=unreviewed_after_s,
        expiry_check_s=expiry_check_s,
        staging_retention_s=staging_retention_h * 3600,
        kept_retention_s=kept_retention_h * 3600,
        frame_sweep_interval_s=sweep_interval_s,
        metrics_port=metrics_port,
        checkpoint=checkpoint,
        event_keyring=event_keyring_path(),
        join_partitions=join_partitions(spec),
        tip_rates=_tip_rates(tip_rates or []),
        tip_seed=tip_seed,
    )
    run_worker(config, loglevel=loglevel, log_format=log_format(), rollout=rollout)


def _tip_rates(specs: list[str]) -> TipRates:
    """The ``--tip-rate`` options, a bad one refused by name."""
    try:
        return TipRates.parse(specs)
    except StreamsConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tip-rate") from exc


def _worker_sites(
    role: Role, sites: list[str], fleet: tuple[str, ...]
) -> tuple[str | None, tuple[str, ...]]:
    """The site an edge serves and the sites a cloud joins, from ``--site`` (else the
    settings: ``LEAKGUARD_SITE`` for an edge, ``LEAKGUARD_SITES`` for the cloud)."""
    from infra.exceptions import SiteNameError
    from infra.sites import check_sites

    try:
        checked = check_sites(sites)
    except SiteNameError as exc:
        raise typer.BadParameter(str(exc), param_hint="--site") from exc
    if role == "cloud":
        return None, checked or fleet
    if len(checked) > 1:
        raise typer.BadParameter(
            f"an edge serves one site, got {', '.join(checked)}", param_hint="--site"
        )
    return site_of(checked[0] if checked else None), ()


scanner_app = typer.Typer(
    help="Frame sources: the simulator, or a folder a real scanner exports into.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@scanner_app.command("simulate")
def scanner_simulate(
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Checkpoint id.")],
    bootstrap_servers: BootstrapOption = None,
    lanes: Annotated[int, typer.Option("--lanes", help="Lanes, numbered 1..N.")] = 1,
    rate: Annotated[float, typer.Option("--rate", help="Frames per second per lane.")] = 0.5,
    frames: Annotated[int | None, typer.Option("--frames", help="Frames per lane.")] = None,
    size: Annotated[int, typer.Option("--size", help="Image side in pixels.")] = 640,
    seed: Annotated[int, typer.Option("--seed", help="Simulator seed.")] = 0,
    topic_prefix: PrefixOption = "",
    site: SiteOption = None,
    drift: Annotated[
        DriftName | None,
        typer.Option(
            "--drift",
            help="Drift scenario: a new confuser in the bags (phone-decoration: metal bag "
            "decorations shaped like phones).",
        ),
    ] = None,
    views: Annotated[
        str,
        typer.Option(
            "--views",
            help="Views per frame, comma-separated: top (the primary, always first) and "
            "side (a dual-view scanner; the detector was trained on top views only).",
        ),
    ] = "top",
) -> None:
    """Publish simulated frames (with ground truth) for each lane, round robin.

    Shows a progress bar on a terminal, else a line every 10 s (a log, a pipe).
    """
    from detector.exceptions import SimulationError
    from detector.sim.drift import drifted
    from detector.sim.scenes import get_preset
    from detector.sim.stream import ScannerStream, check_views
    from streams.sources import FramePublisher, frame_from_simulated, publish_all, round_robin

    try:
        preset = drifted(get_preset("cluttered"), drift)
    except SimulationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--drift") from exc
    try:
        view_names = check_views([v.strip() for v in views.split(",")])
    except SimulationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--views") from exc
    lanes_frames = [
        iter(
            ScannerStream(
                checkpoint_id=checkpoint,
                lane_id=str(lane),
                preset=preset,
                rate_hz=rate,  # each lane paces itself, so interleaved lanes run side by side
                seed=seed,
                width_px=size,
                height_px=size,
                max_frames=frames,
                views=view_names,
            )
        )
        for lane in range(1, lanes + 1)
    ]
    publisher = FramePublisher(
        topic=site_stream_topics(topic_prefix, site).frames,
        bootstrap_servers=bootstrap_servers_or_stack(bootstrap_servers),
        client_config=client_config(),
        tag=scanner_tag(checkpoint),
    )
    frames_in_turn = (frame_from_simulated(f) for f in round_robin(lanes_frames))
    typer.echo(f"publishing {checkpoint} lanes 1..{lanes} at {rate:g} frames/s each")
    total = None if frames is None else frames * lanes
    published = publish_all(track(frames_in_turn, total=total, label="published"), publisher)
    typer.echo(f"published {published} frames")


@scanner_app.command("watch")
def scanner_watch(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Folder the scanner exports PNG files into.",
            exists=True,
            file_okay=False,
            readable=True,
            writable=True,
        ),
    ],
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Checkpoint id.")],
    bootstrap_servers: BootstrapOption = None,
    lane: Annotated[str, typer.Option("--lane", help="Lane of this scanner.")] = "1",
    once: Annotated[bool, typer.Option("--once", help="Publish what is there, then stop.")] = False,
    topic_prefix: PrefixOption = "",
    site: SiteOption = None,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Publish every PNG that appears in FOLDER; move it to done/ or rejected/."""
    from streams.sources import watch_folder

    run_folder_bridge(
        folder,
        lambda publisher, should_stop: watch_folder(
            folder,
            checkpoint=checkpoint,
            lane=lane,
            publish=publisher.publish,
            should_stop=should_stop,
        ),
        checkpoint=checkpoint,
        bootstrap_servers=bootstrap_servers,
        topics=site_stream_topics(topic_prefix, site),
        once=once,
        metrics_port=metrics_port,
        what="frames",
    )


@scanner_app.command("guards")
def scanner_guards(
    bootstrap_servers: BootstrapOption = None,
    miss_rate: Annotated[float, typer.Option("--miss-rate", help="Missed media share.")] = 0.0,
    mistake_rate: Annotated[float, typer.Option("--mistake-rate", help="Wrong calls share.")] = 0.0,
    delay_s: Annotated[float, typer.Option("--delay", help="Median answer delay (s).")] = 2.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the guards' choices.")] = 0,
    guards: Annotated[
        list[str] | None,
        typer.Option(
            "--guard",
            help="A guard ID=MISS_RATE with its own miss rate (repeatable; lanes are staffed "
            "in turn). Default: one guard, sim-guard, with --miss-rate.",
        ),
    ] = None,
    topic_prefix: PrefixOption = "",
    site: SiteOption = None,
) -> None:
    """Simulated guards: answer every detection from the simulator's ground truth.

    With a producer keyring (``LEAKGUARD_SECURITY__EVENT_KEYRING``) they tag their verdicts
    with its ``guard:*`` key, as a guard desk that serves every checkpoint."""
    from infra.settings import load_settings
    from streams.guards import run_guards
    from streams.logic.guard_policy import GuardPolicy

    base = GuardPolicy(
        miss_rate=miss_rate, mistake_rate=mistake_rate, median_delay_s=delay_s, seed=seed
    )
    policies = [
        dataclasses.replace(base, guard_id=guard_id, miss_rate=rate)
        for guard_id, rate in _guard_specs(guards or [])
    ] or [base]
    topics = site_stream_topics(topic_prefix, site)

    def ready(partitions: int) -> None:
        typer.echo(f"guards answering {topics.detections} ({partitions} partitions); Ctrl-C stops")

    keyring = load_settings().security.keyring()
    run_guards(
        bootstrap_servers=bootstrap_servers_or_stack(bootstrap_servers),
        client_config=client_config(),
        topics=topics,
        policies=policies,
        on_ready=ready,
        tag=None if keyring is None else keyring.tagger("guard", None),
    )


def _guard_specs(specs: list[str]) -> list[tuple[str, float]]:
    """``(guard id, miss rate)`` of each ``--guard ID=MISS_RATE``, a bad one refused."""
    parsed = []
    for spec in specs:
        guard_id, sep, rate = spec.partition("=")
        try:
            value = float(rate)
        except ValueError:
            value = -1.0
        if not sep or not guard_id.strip() or not 0.0 <= value <= 1.0:
            raise typer.BadParameter(
                f"{spec!r} is not ID=MISS_RATE with a rate within [0, 1]", param_hint="--guard"
            )
        parsed.append((guard_id.strip(), value))
    return parsed


scanner_app.add_typer(dicos_app, name="dicos")
