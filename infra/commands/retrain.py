"""``leakguard retrain run|consume|status`` and ``leakguard models list|show|register|
promote|rollback|announce|export-key``, mounted lazily by ``infra/cli.py`` (they import torch).

Every state change that rolls a model out is announced on ``model.updates``, so these
commands need the broker (``leakguard stack up`` or ``LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS``);
``list``, ``show``, ``status`` and ``export-key`` work offline.
"""

from __future__ import annotations

import getpass
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from infra.commands.json_output import JsonOption, echo_json
from infra.commands.tables import folding_table
from infra.ops import MetricsPortOption, ops_endpoint
from infra.registry_announce import kafka_announcer, open_registry, registry_paths
from infra.settings import LeakguardSettings, load_settings
from infra.stack import require_bootstrap_servers
from leakguard.health import Checks, writable
from retrain.consumer import RetrainConsumer
from retrain.cycle import CycleResult, RetrainConfig, Retrainer
from retrain.job import JobProgress
from retrain.keys import load_or_create_private_key, public_key_pem
from retrain.registry import OPERATOR, Registry
from schemas.events import ModelUpdate, RolloutModeName, RolloutTarget
from schemas.topics import Topics

__all__ = ["models_app", "retrain_app"]

console = Console()
#: How often `retrain run` reads the job's progress file: often enough for a live bar.
_PROGRESS_POLL_S = 0.5

retrain_app = typer.Typer(
    help="Continuous learning: annotations in, gated and signed models out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(
    help="The model registry: versions, states, promotion and rollback.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

PrefixOption = Annotated[
    str, typer.Option("--topic-prefix", help="Prefix of every topic name (tests).")
]


def _operator(name: str | None) -> str:
    """``operator:<name>`` for a rollout step taken at this command line (the login name
    when ``--by`` is not given), as the managers' view of the rollout shows it."""
    if name is None:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no login name (a container's anonymous uid)
            name = "unknown"
    return f"{OPERATOR}:{name}"


ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who takes this step, for the rollout history (default: login)."),
]


def _announcer(settings: LeakguardSettings, topic: str) -> Callable[[ModelUpdate], None]:
    """Produces each ``ModelUpdate`` to ``topic``, waits for the broker and says so."""
    produce = kafka_announcer(settings, require_bootstrap_servers(settings), topic)

    def announce(update: ModelUpdate) -> None:
        produce(update)
        console.print(f"announced {update.model_version} as {update.rollout_mode} on {topic}")

    return announce


def _registry(settings: LeakguardSettings, *, prefix: str = "", online: bool = False) -> Registry:
    topic = Topics().prefixed(prefix).model_updates
    return open_registry(settings, announce=_announcer(settings, topic) if online else None)


def _retrainer(settings: LeakguardSettings, registry: Registry) -> Retrainer:
    block = settings.retrain
    config = RetrainConfig(
        workdir=registry_paths(settings).workdir,
        trigger_samples=block.trigger_samples,
        schedule_s=block.schedule_s,
        base_holdout_dir=block.base_holdout_dir,
        replay_dirs=tuple(block.replay_dirs),
        steps=block.steps,
        batch_size=block.batch_size,
        lr=block.lr,
        device=block.device,
        max_base_map_loss_pts=block.max_base_map_loss_pts,
        auto_rollout=block.auto_rollout,
        alarm_threshold=block.alarm_threshold,
        max_miss_rate_rise=block.max_miss_rate_rise,
        max_false_alarm_rate_rise=block.max_false_alarm_rate_rise,
    )
    return Retrainer(config=config, registry=registry)


def _print_cycle(result: CycleResult) -> None:
    colour = "green" if result.job.passed else "red"
    console.print(
        f"candidate [bold]{result.record.version}[/] is [{colour}]{result.record.state}[/]"
    )
    for reason in result.job.reasons:
        console.print(f"  {reason}")


@retrain_app.command("run")
def retrain_run(topic_prefix: PrefixOption = "") -> None:
    """Train on the pending annotated frames now (blocks until the gate has decided)."""
    settings = load_settings()
    retrainer = _retrainer(settings, _registry(settings, prefix=topic_prefix, online=True))
    pending = retrainer.store.pending_count()
    console.print(f"retraining on {pending} pending frames (in a child process)...")
    cycle = retrainer.start()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("starting", total=None, loss="")
        while not cycle.job.done():
            _show(progress, task, cycle.job.progress())
            time.sleep(_PROGRESS_POLL_S)
        _show(progress, task, cycle.job.progress())
    _print_cycle(retrainer.finish(cycle))


def _show(progress: Progress, task: TaskID, state: JobProgress | None) -> None:
    if state is None:
        return
    loss = "" if state.loss is None else f"loss {state.loss:.3f}"
    progress.update(
        task, description=state.phase, completed=state.step, total=state.steps, loss=loss
    )


@retrain_app.command("consume")
def retrain_consume(
    topic_prefix: PrefixOption = "", metrics_port: MetricsPortOption = None
) -> None:
    """Consume annotations into the training set; retrain on count or schedule (Ctrl-C stops)."""
    from streams.frame_store import FrameStore

    settings = load_settings()
    retrainer = _retrainer(settings, _registry(settings, prefix=topic_prefix, online=True))
    store = FrameStore(settings.retrain.frame_store_url)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.append(signum))
    servers = require_bootstrap_servers(settings)
    topics = Topics().prefixed(topic_prefix)
    consumer = RetrainConsumer(
        retrainer=retrainer,
        fetch_image=store.get,
        bootstrap_servers=servers,
        group_id=settings.retrain.group_id,
        topics=topics,
        client_config=settings.kafka.client_config(),
        on_cycle=_print_cycle,
        keyring=settings.security.keyring(),
    )
    block = settings.retrain
    console.print(
        f"consuming {topic_prefix}annotations; a job starts at {block.trigger_samples} new "
        f"frames or every {block.schedule_s:g} s"
    )
    paths = registry_paths(settings)
    checks = consumer.checks() | Checks(
        ready={
            "registry": writable(paths.registry_dir, what="model registry"),
            "workdir": writable(paths.workdir, what="training work dir"),
        }
    )
    with ops_endpoint(
        settings,
        port=metrics_port,
        bootstrap_servers=servers,
        checks=checks,
        group=block.group_id,
        topics=[topics.annotations, topics.model_status],
    ):
        consumer.run(should_stop=lambda: bool(stopping))
    console.print(f"stopped; {consumer.added} frames added")


@retrain_app.command("status")
def retrain_status(as_json: JsonOption = False) -> None:
    """Pending frames, frozen training sets and the registry's active model.

    With --json: pending_frames, trigger_samples, workdir, training_sets (name,
    train_frames, holdout_mistakes) and active_model (a version, or null).
    """
    settings = load_settings()
    paths = registry_paths(settings)
    workdir = paths.workdir
    retrainer = _retrainer(settings, Registry(paths.registry_dir))
    active = retrainer.registry.active()
    if as_json:
        sets = [
            {
                "name": frozen.name,
                "train_frames": frozen.train_images,
                "holdout_mistakes": frozen.holdout_images,
            }
            for frozen in retrainer.store.sets()
        ]
        echo_json(
            {
                "pending_frames": retrainer.store.pending_count(),
                "trigger_samples": settings.retrain.trigger_samples,
                "workdir": str(workdir),
                "training_sets": sets,
                "active_model": active.version if active else None,
            }
        )
        return
    console.print(
        f"pending frames: {retrainer.store.pending_count()} "
        f"(a job starts at {settings.retrain.trigger_samples})"
    )
    table = folding_table(
        "set", "train frames", "held-out mistakes", title=f"training sets in {workdir}"
    )
    for frozen in retrainer.store.sets():
        table.add_row(frozen.name, str(frozen.train_images), str(frozen.holdout_images))
    console.print(table)
    console.print(f"active model: {active.version if active else '(none)'}")


@models_app.command("list")
def models_list(as_json: JsonOption = False) -> None:
    """Every registered version with parent, state, training set and key metrics.

    With --json: {"versions": [each version's record, as `models show --json` prints it]}.
    """
    registry = Registry(registry_paths(load_settings()).registry_dir)
    if as_json:
        records = [_record_document(registry, record.version) for record in registry.versions()]
        echo_json({"versions": records})
        return
    table = folding_table("version", "parent", "state", "set", "mAP@0.5 media", "created")
    for record in registry.versions():
        map50 = record.metrics.get("map50_media")
        table.add_row(
            record.version,
            record.parent or "-",
            record.state,
            record.training_set or "-",
            "-" if map50 is None else f"{map50 * 100:.1f}",
            record.created_at,
        )
    console.print(table)


@models_app.command("show")
def models_show(
    version: Annotated[str, typer.Argument(help="Version, e.g. v0003.")],
    as_json: JsonOption = False,
) -> None:
    """One version's record (fingerprint, metrics, signature, history) as JSON.

    Highlighted for a terminal; --json prints it plainly, as scripts want it.
    """
    data = _record_document(Registry(registry_paths(load_settings()).registry_dir), version)
    if as_json:
        echo_json(data)
        return
    console.print_json(json.dumps(data))


def _record_document(registry: Registry, version: str) -> dict[str, object]:
    """A version's registry record with its artifact directory: the JSON of `models show`."""
    data = registry.get(version).to_dict()
    data["artifact_dir"] = str(registry.artifact_dir(version))
    return data


@models_app.command("register")
def models_register(
    artifact: Annotated[Path, typer.Argument(help="Artifact directory to sign and register.")],
    parent: Annotated[str | None, typer.Option("--parent", help="Version it came from.")] = None,
    activate: Annotated[
        bool, typer.Option("--activate", help="Make it the active model and announce it.")
    ] = False,
    topic_prefix: PrefixOption = "",
    by: ByOption = None,
) -> None:
    """Sign an artifact into the registry (e.g. the first, from-scratch model)."""
    settings = load_settings()
    registry = _registry(settings, prefix=topic_prefix, online=activate)
    record = registry.register(artifact, parent=parent, decided_by=_operator(by))
    console.print(f"registered [bold]{record.version}[/] (key {record.signing_key_id})")
    if activate:
        registry.promote(
            record.version, mode="active", reason="first activation", decided_by=_operator(by)
        )


def _targets(values: list[str]) -> tuple[RolloutTarget, ...]:
    targets = []
    for value in values:
        checkpoint, _, lane = value.partition("/")
        targets.append(RolloutTarget(checkpoint=checkpoint, lane=lane or None))
    return tuple(targets)


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="Version to promote.")],
    to: Annotated[RolloutModeName, typer.Option("--to", help="shadow, canary or active.")],
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="checkpoint or checkpoint/lane (repeatable; none: all)."),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the history.")] = "promoted",
    topic_prefix: PrefixOption = "",
    by: ByOption = None,
) -> None:
    """Move a version to shadow, canary or active and announce it to the edges."""
    registry = _registry(load_settings(), prefix=topic_prefix, online=True)
    registry.promote(
        version,
        mode=to,
        targets=_targets(target or []),
        reason=reason,
        decided_by=_operator(by),
    )


@models_app.command("rollback")
def models_rollback(
    reason: Annotated[str, typer.Option("--reason", help="Why, for the history.")] = "operator",
    topic_prefix: PrefixOption = "",
    by: ByOption = None,
) -> None:
    """Reject the active model and re-activate the one it replaced; announce it."""
    registry = _registry(load_settings(), prefix=topic_prefix, online=True)
    event = registry.rollback(reason=reason, decided_by=_operator(by))
    console.print(f"[yellow]rolled back[/]: {event.model_version} is active again")


@models_app.command("announce")
def models_announce(
    topic_prefix: PrefixOption = "",
) -> None:
    """Announce every version now in shadow, canary or active again, as new signed
    decisions: after a registry upgrade or a key change, so edges have decisions to accept."""
    registry = _registry(load_settings(), prefix=topic_prefix, online=True)
    events = registry.announce_current()
    if not events:
        console.print("nothing to announce: no version is in shadow, canary or active")


@models_app.command("export-key")
def models_export_key(
    out: Annotated[Path, typer.Argument(help="Where to write the public key (PEM).")],
) -> None:
    """Write the registry's public key: edges trust it with `worker --trusted-key`."""
    key = load_or_create_private_key(registry_paths(load_settings()).signing_key)
    out.write_bytes(public_key_pem(key.public_key()))
    console.print(f"public key written to {out}")
