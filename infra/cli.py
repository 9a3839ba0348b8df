"""The ``leakguard`` command line: the root that every command group hangs from.

The groups live in :mod:`infra.commands` and this module mounts them, so ``leakguard --help``
lists every group. Errors leakguard raises on
purpose are shown as one red line and exit with status 1; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import logging
import logging.config
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from infra.commands.json_output import JsonOption, echo_json
from infra.commands.lazy import LazyEntry, LazyTarget, lazy_group
from infra.commands.tables import folding_table, install_folding_help
from infra.commands.topics import topics_app
from infra.settings import describe_settings, load_settings, settings_values
from infra.stack import StackStatus, stack_down, stack_status, stack_up
from infra.topics import load_spec
from leakguard import __version__
from leakguard.errors import LeakguardError
from leakguard.logs import LogFormat, logging_config
from schemas.authenticity import EventKeyring, add_keys

console = Console()
err_console = Console(stderr=True)

#: Commands whose modules import torch: loaded only when they run.
_LAZY_COMMANDS = {
    "demo": LazyEntry(
        LazyTarget("infra.commands.demo"),
        "Run the whole loop locally with a live summary: the README's first command.",
    ),
    "console": LazyEntry(
        LazyTarget("infra.commands.console", app="console_app"),
        "The guard console and the managers' overview page (web): serve, add-guard.",
    ),
    "worker": LazyEntry(
        LazyTarget("infra.commands.streams", app="worker_app"),
        "Run a stream worker: --role edge (detect) or cloud (outcome join, alerts, annotation).",
    ),
    "scanner": LazyEntry(
        LazyTarget("infra.commands.streams", app="scanner_app"),
        "Frame sources: the simulator as a producer, or a folder a scanner exports into.",
    ),
    "analytics": LazyEntry(
        LazyTarget("infra.commands.sinks"),
        "ClickHouse analytics: apply the DDL migrations, run the sink worker.",
    ),
    "dashboards": LazyEntry(
        LazyTarget("infra.commands.sinks", app="dashboards_app"),
        "Grafana dashboards as code: export the JSON and provisioning, push, annotate.",
    ),
    "alerts": LazyEntry(
        LazyTarget("infra.commands.sinks", app="alerts_app"),
        "Deliver alerts to the control centre's API (signed, idempotent, retried).",
    ),
    "annotate": LazyEntry(
        LazyTarget("infra.commands.annotate"),
        "Annotation: Label Studio tasks for the detector's mistakes, or auto-labels.",
    ),
    "data": LazyEntry(
        LazyTarget("infra.commands.data"),
        "Simulated X-ray data sets: generate them, look at them.",
    ),
    "train": LazyEntry(
        LazyTarget("infra.commands.model", command="train"),
        "Train the RetinaNet detector; writes a safetensors artifact and reports.",
    ),
    "eval": LazyEntry(
        LazyTarget("infra.commands.model", command="eval"),
        "Evaluate a model: COCO AP per class and checkpoint-level alarm figures.",
    ),
    "retrain": LazyEntry(
        LazyTarget("infra.commands.retrain", app="retrain_app"),
        "Continuous learning: annotations into training sets, gated fine-tuning jobs.",
    ),
    "models": LazyEntry(
        LazyTarget("infra.commands.retrain", app="models_app"),
        "The model registry: list, show, register, promote, rollback, announce, export the key.",
    ),
}

install_folding_help()
app = typer.Typer(
    name="leakguard",
    cls=lazy_group(_LAZY_COMMANDS),
    help="Find data-storage media in X-ray checkpoint scans, stream by stream.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
stack_app = typer.Typer(
    help="Run the embedded local stack (Kafka-compatible broker, chdb analytics).",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="Producer keys: who may send detections and verdicts for which checkpoint.",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
app.add_typer(keys_app, name="keys")


def _version(value: bool) -> None:
    if value:
        console.print(f"leakguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format",
            help="Log lines as text, or as json (one object per line, with the event id, "
            "topic, partition and offset of the event a line is about) "
            "Default: LEAKGUARD_LOG_FORMAT, else text.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Configure logging once for every command from LEAKGUARD_LOG_LEVEL and the log format."""
    settings = load_settings()
    config = logging_config(settings.log_level, log_format or settings.log_format)
    if config is not None:
        logging.config.dictConfig(config)
        return
    logging.basicConfig(
        level=settings.log_level,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )


@config_app.command("show")
def config_show(as_json: JsonOption = False) -> None:
    """Print the effective settings (environment and .env applied), secrets masked.

    With --json: an object of every variable to its value (null when unset).
    """
    if as_json:
        echo_json(settings_values(load_settings()))
        return
    table = folding_table("variable", "value", title="leakguard settings")
    for name, value in describe_settings(load_settings()):
        table.add_row(name, value)
    console.print(table)


@stack_app.command("up")
def stack_up_command(
    durable: Annotated[
        bool,
        typer.Option(
            "--durable",
            help="Keep every topic on disk (an S3-compatible server on loopback, data under "
            "<data dir>/broker-storage), so topics survive `stack down`. Pass it at every "
            "start: without it the broker starts empty, in memory.",
        ),
    ] = False,
) -> None:
    """Start the embedded broker in the background, create the topics, prepare chdb, and
    re-announce the model registry's rollout state (when a registry and its key exist).

    Exit 1 when the announcement fails: the stack stays up, and the next `stack up` retries
    it."""
    result = stack_up(load_settings(), durable=durable)
    verb = "already running" if result.already_running else "started"
    console.print(
        f"[green]broker {verb}[/] (pid {result.state.pid}) on "
        f"[bold]{result.state.bootstrap_servers}[/], log {result.state.log_path}"
    )
    storage = result.state.storage
    if storage is None:
        console.print("storage: in memory (topics are lost at `stack down`)")
    else:
        console.print(
            f"storage: durable, S3 server pid {storage.pid} on {storage.endpoint}, "
            f"data under {storage.data_dir}"
        )
    console.print(
        f"topics: {len(result.topics.created)} created, {len(result.topics.unchanged)} present"
    )
    console.print(f"analytics: chdb under {result.chdb_path}")
    announced = result.announced
    if announced is not None:
        if announced.skipped is not None:
            console.print(f"rollout state: not announced ({announced.skipped})")
        for update in announced.announced:
            console.print(
                f"rollout state: announced {update.model_version} as {update.rollout_mode}"
            )
    console.print("stop it with [bold]leakguard stack down[/]")
    if announced is not None and announced.failed is not None:
        # The stack is up and stays up: say so, and that a rerun retries (the state records
        # the announcement as pending), rather than fail as if nothing had started.
        err_console.print(
            f"[red]rollout state: announcement failed:[/] {escape(announced.failed)}\n"
            "The stack is up, but edges do not learn the registry's active model until it "
            "is announced: fix the cause, then run `leakguard stack up` again (it retries)."
        )
        raise typer.Exit(1)


@stack_app.command("down")
def stack_down_command() -> None:
    """Stop the broker started by `leakguard stack up` (in-memory topics are dropped; a
    --durable stack's stay on disk for the next `stack up --durable`)."""
    state = stack_down(load_settings())
    if state is None:
        console.print("no stack is recorded; nothing to stop")
        return
    console.print(f"stopped broker pid {state.pid} ({state.bootstrap_servers})")
    if state.storage is not None:
        console.print(
            f"stopped S3 server pid {state.storage.pid}; topics kept under {state.storage.data_dir}"
        )


@stack_app.command("status")
def stack_status_command(as_json: JsonOption = False) -> None:
    """Show whether the stack runs, where it listens and which topics exist. Exit 1 if down.

    With --json: running, healthy, pid, bootstrap_servers, broker_answers, uptime_s,
    durable, storage_running, topics_present, topics_missing and announce_pending (the
    registry's rollout state not yet announced to this broker; the same exit status).
    """
    status = stack_status(load_settings())
    if as_json:
        echo_json(_stack_status_document(status))
        if not _stack_healthy(status):
            raise typer.Exit(1)
        return
    if status.state is None or not status.process_running:
        console.print("[yellow]stack is down[/] (start it with `leakguard stack up`)")
        raise typer.Exit(1)
    uptime_s = time.time() - status.state.started_at
    health = "[green]answers[/]" if status.broker_answers else "[red]does not answer[/]"
    console.print(
        f"broker pid {status.state.pid} on [bold]{status.state.bootstrap_servers}[/] {health}, "
        f"up {uptime_s:.0f} s"
    )
    console.print(f"topics present: {len(status.topics)}/{len(load_spec().names)}")
    if status.state.announce_pending:
        console.print("[yellow]rollout state not announced[/] (`leakguard stack up` retries it)")
    if status.storage_running is not None:
        storage = "[green]runs[/]" if status.storage_running else "[red]is down[/]"
        console.print(f"durable storage {storage}")
    if not _stack_healthy(status):
        raise typer.Exit(1)


def _stack_healthy(status: StackStatus) -> bool:
    """Running, answering, and its durable storage (if any) up: `stack status` exits 0."""
    running = status.state is not None and status.process_running
    return running and status.broker_answers and status.storage_running is not False


def _stack_status_document(status: StackStatus) -> dict[str, object]:
    """`stack status --json`: every key present whether the stack runs or not."""
    state = status.state if status.process_running else None
    expected = load_spec().names
    return {
        "running": state is not None,
        "healthy": _stack_healthy(status),
        "pid": None if state is None else state.pid,
        "bootstrap_servers": None if state is None else state.bootstrap_servers,
        "broker_answers": status.broker_answers,
        "uptime_s": None if state is None else round(time.time() - state.started_at, 1),
        "durable": state is not None and state.storage is not None,
        "storage_running": status.storage_running,
        "topics_present": [name for name in expected if name in status.topics],
        "topics_missing": [name for name in expected if name not in status.topics],
        "announce_pending": state is not None and state.announce_pending,
    }


KeyringOption = Annotated[
    Path | None,
    typer.Option(
        "--keyring",
        help="Keyring file (default: LEAKGUARD_SECURITY__EVENT_KEYRING, else "
        "<data dir>/keys/events.json).",
    ),
]


def _keyring_path(keyring: Path | None) -> Path:
    settings = load_settings()
    return keyring or settings.security.event_keyring or settings.data_dir / "keys" / "events.json"


@keys_app.command("add")
def keys_add(
    principals: Annotated[
        list[str],
        typer.Argument(
            help="Producers, each ROLE:CHECKPOINT: scanner:hq (frames of hq), edge:hq "
            "(detections and rollout reports of hq), guard:hq (verdicts of hq's consoles), "
            "cloud:* (the cloud worker's outcomes, alerts and annotation tasks); a checkpoint "
            "of * speaks for every checkpoint."
        ),
    ],
    keyring: KeyringOption = None,
) -> None:
    """Give each producer a fresh random key in the keyring (mode 0600); existing keys stay.

    Hand each process the keys it needs: a producer its own, a checker those of the
    producers it checks (an edge its scanners' and the cloud's, a console its edge's, the
    cloud worker its edges' and guards', alert delivery and the retrain consumer the cloud's
    and the edges').
    """
    path = _keyring_path(keyring)
    added = add_keys(path, principals)
    console.print(f"{path}: added {', '.join(added) or 'nothing (every key existed)'}")


@keys_app.command("list")
def keys_list(keyring: KeyringOption = None, as_json: JsonOption = False) -> None:
    """The producers a keyring holds keys of (never the keys).

    With --json: {"keyring": path, "principals": [ROLE:CHECKPOINT, ...]}.
    """
    path = _keyring_path(keyring)
    principals = sorted(EventKeyring.load(path).principals)
    if as_json:
        echo_json({"keyring": str(path), "principals": principals})
        return
    for principal in principals:
        console.print(principal)


def main() -> None:
    """Console-script entry point: run the CLI, showing leakguard's own errors briefly."""
    try:
        app()
    except LeakguardError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        raise SystemExit(1) from exc
