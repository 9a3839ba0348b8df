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
from streams.rollout_config import RolloutConfig
from streams.rollout_monitor import (
    DEFAULT_MAX_FALSE_ALARM_INCREASE,
    DEFAULT_MAX_MISS_INCREASE,
    DEFAULT_MIN_OUTCOMES,
    RollbackBounds,
)

__all__ = ["scanner_app", "worker_app"]

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
    status_interval_s: Annotated[
        float, typer.Option("--status-interval", help="Edge: seconds between trial reports.")
    ] = 30.0,
) -> None:
    """Run an edge (detect) or cloud (outcome join, alerts, annotation queue) worker."""
    from streams.worker import run_worker

    rollout = None
    if role == "edge" and trusted_keys:
        rollout = RolloutConfig(
            trusted_key_paths=tuple(str(path) for path in trusted_keys),
            cache_dir=model_cache,
            checkpoint=checkpoint,
            bounds=RollbackBounds(
                min_outcomes=rollback_min_outcomes,
                max_false_alarm_increase=max_false_alarm_increase,
                max_miss_increase=max_miss_increase,
            ),
            status_interval_s=status_interval_s,
        ).prefixed(topic_prefix)

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
    run_worker(config, loglevel=loglevel, rollout=rollout)


scanner_app = typer.Typer(
    help="Frame sources: the simulator, or a folder a real scanner exports into.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@scanner_app.command("simulate")
def scanner_simulate(
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Checkpoint id.")],
    bootstrap_servers: BootstrapOption,
    lanes: Annotated[int, typer.Option("--lanes", help="Lanes, numbered 1..N.")] = 1,
    rate: Annotated[float, typer.Option("--rate", help="Frames per second per lane.")] = 0.5,
    frames: Annotated[int | None, typer.Option("--frames", help="Frames per lane.")] = None,
    size: Annotated[int, typer.Option("--size", help="Image side in pixels.")] = 640,
    seed: Annotated[int, typer.Option("--seed", help="Simulator seed.")] = 0,
    topic_prefix: PrefixOption = "",
) -> None:
    """Publish simulated frames (with ground truth) for each lane, round robin."""
    from detector.sim.stream import ScannerStream
    from streams.sources import FramePublisher, frame_from_simulated

    streams = [
        iter(
            ScannerStream(
                checkpoint_id=checkpoint,
                lane_id=str(lane),
                rate_hz=rate,  # each lane paces itself, so interleaved lanes run side by side
                seed=seed,
                width_px=size,
                height_px=size,
                max_frames=frames,
            )
        )
        for lane in range(1, lanes + 1)
    ]
    publisher = FramePublisher(
        topic=TopicNames().prefixed(topic_prefix).frames, bootstrap_servers=bootstrap_servers
    )
    sent = 0
    while streams:
        for stream in list(streams):
            simulated = next(stream, None)
            if simulated is None:
                streams.remove(stream)
                continue
            publisher.publish(frame_from_simulated(simulated))
            sent += 1
    publisher.flush()
    typer.echo(f"published {sent} frames")


@scanner_app.command("watch")
def scanner_watch(
    folder: Annotated[Path, typer.Argument(help="Folder the scanner exports PNG files into.")],
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Checkpoint id.")],
    bootstrap_servers: BootstrapOption,
    lane: Annotated[str, typer.Option("--lane", help="Lane of this scanner.")] = "1",
    once: Annotated[bool, typer.Option("--once", help="Publish what is there, then stop.")] = False,
    topic_prefix: PrefixOption = "",
) -> None:
    """Publish every PNG that appears in FOLDER; move it to done/ or rejected/."""
    from streams.sources import FramePublisher, watch_folder

    publisher = FramePublisher(
        topic=TopicNames().prefixed(topic_prefix).frames, bootstrap_servers=bootstrap_servers
    )
    count = watch_folder(
        folder,
        checkpoint=checkpoint,
        lane=lane,
        publish=publisher.publish,
        should_stop=lambda: once,
    )
    publisher.flush()
    typer.echo(f"published {count} frames")


@scanner_app.command("guards")
def scanner_guards(
    bootstrap_servers: BootstrapOption,
    miss_rate: Annotated[float, typer.Option("--miss-rate", help="Missed media share.")] = 0.0,
    mistake_rate: Annotated[float, typer.Option("--mistake-rate", help="Wrong calls share.")] = 0.0,
    delay_s: Annotated[float, typer.Option("--delay", help="Median answer delay (s).")] = 2.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the guards' choices.")] = 0,
    topic_prefix: PrefixOption = "",
) -> None:
    """Simulated guards: answer every detection from the simulator's ground truth."""
    from streams.guards import run_guards
    from streams.logic.guard_policy import GuardPolicy

    policy = GuardPolicy(
        miss_rate=miss_rate, mistake_rate=mistake_rate, median_delay_s=delay_s, seed=seed
    )
    run_guards(
        bootstrap_servers=bootstrap_servers,
        topics=TopicNames().prefixed(topic_prefix),
        policy=policy,
    )
