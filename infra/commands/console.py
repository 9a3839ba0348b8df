"""``leakguard console serve|add-guard``: the guard console and the managers' overview.

This is the wiring layer, so it reads the settings (``LEAKGUARD_KAFKA__*``,
``LEAKGUARD_CLICKHOUSE__*``, ``LEAKGUARD_SITE``, the data dir) the way
``infra/commands/sinks.py`` does; the console's modules themselves take everything as arguments.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from infra.analytics import build_sink_worker, migrate, open_backend
from infra.commands.kafka_options import SiteOption, site_stream_topics
from infra.settings import LeakguardSettings, load_settings
from infra.stack import require_bootstrap_servers
from leakguard.errors import LeakguardError
from sinks.dashboards.overview import LockedBackend, overview_source
from streams.console.accounts import GuardStore, default_guards_path
from streams.console.server import ConsoleConfig, SinkRunner, run_console

__all__ = ["console_app"]

logger = logging.getLogger(__name__)

console_app = typer.Typer(
    help="The guard console and the managers' overview page (web).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

GuardsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--guards-file", help="Guard accounts file (default: DATA_DIR/console/guards.json)."
    ),
]


@console_app.command("serve")
def serve(
    checkpoint: Annotated[
        str, typer.Option("--checkpoint", help="Checkpoint this console serves.")
    ],
    lanes: Annotated[
        list[str] | None,
        typer.Option(
            "--lane", help="Lane guards may sign in to; repeat it. Default: any lane seen."
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free one).")
    ] = 8080,
    guards_file: GuardsFileOption = None,
    sink: Annotated[
        bool | None,
        typer.Option(
            "--sink/--no-sink",
            help="Run the ClickHouse sink in this process. Default: yes with embedded chdb "
            "(chdb is in-process: no other process can read it), no with a ClickHouse server.",
            show_default=False,
        ),
    ] = None,
    session_hours: Annotated[
        float, typer.Option("--session-hours", help="Sessions expire after this many hours.")
    ] = 8.0,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies",
            help="Served over TLS (behind an HTTPS proxy): cookies over HTTPS only, and HSTS.",
        ),
    ] = False,
    frame_store: Annotated[
        str,
        typer.Option(
            "--frame-store",
            help="The edge's frame store (its --frame-store): frame images are read from "
            "there and nowhere else.",
        ),
    ] = ".leakguard/frames",
    topic_prefix: Annotated[
        str, typer.Option("--topic-prefix", help="Prefix of every topic (tests).")
    ] = "",
    site: SiteOption = None,
) -> None:
    """Serve the console; prints `console ready at http://HOST:PORT` once it accepts requests.

    Add accounts first with `leakguard console add-guard`. Ctrl-C or SIGTERM stops it.
    """
    settings = load_settings()
    config = ConsoleConfig(
        checkpoint=checkpoint,
        lanes=tuple(lanes or ()),
        bootstrap_servers=require_bootstrap_servers(settings),
        client_config=settings.kafka.client_config(),
        topics=site_stream_topics(topic_prefix, site),
        state_dir=settings.data_dir / "console",
        guards_file=guards_file or default_guards_path(settings.data_dir),
        host=host,
        port=port,
        session_ttl_s=session_hours * 3600.0,
        secure_cookies=secure_cookies,
        frame_store_url=frame_store,
        event_keyring=settings.security.event_keyring,
    )
    if not GuardStore(config.guards_file).accounts():
        logger.warning(
            "no guard accounts in %s yet: add one with `leakguard console add-guard NAME`",
            config.guards_file,
        )
    analytics, error = _open_analytics(settings)
    run_sink = sink if sink is not None else settings.clickhouse.embedded
    runner: SinkRunner | None = None
    try:
        if analytics is not None and run_sink:
            migrate(settings, analytics)
            runner = build_sink_worker(
                settings, backend=analytics, bootstrap_servers=config.bootstrap_servers
            ).run
        run_console(
            config,
            overview=None if analytics is None else overview_source(analytics),
            overview_error=error,
            sink=runner,
            on_ready=lambda url: typer.echo(f"console ready at {url}"),
        )
    finally:
        if analytics is not None:
            analytics.close()
    typer.echo("console stopped")


def _open_analytics(settings: LeakguardSettings) -> tuple[LockedBackend | None, str | None]:
    """The analytics store, or why there is none (the console serves guards regardless)."""
    try:
        return LockedBackend(open_backend(settings)), None
    except (LeakguardError, RuntimeError) as exc:  # chdb raises RuntimeError when locked
        where = settings.clickhouse.url or f"chdb under {settings.chdb_path}"
        if settings.clickhouse.embedded:
            hint = (
                "chdb is in-process and another process holds it (a `leakguard analytics sink`?); "
                "stop it and let the console run the sink, or set LEAKGUARD_CLICKHOUSE__URL"
            )
        else:
            hint = "check LEAKGUARD_CLICKHOUSE__URL and that the server is up"
        message = f"analytics store {where} unavailable: {exc}. {hint}"
        logger.warning(message)
        return None, message


@console_app.command("add-guard")
def add_guard(
    name: Annotated[str, typer.Argument(help="Guard id, as stamped on every verdict.")],
    password: Annotated[
        str | None,
        typer.Option(
            "--password", help="Password (asked for when omitted; at least 8 characters)."
        ),
    ] = None,
    guards_file: GuardsFileOption = None,
) -> None:
    """Create a guard account, or set a new password for an existing one.

    A new password ends every session of the guard, on running consoles too.
    """
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    path = guards_file or default_guards_path(load_settings().data_dir)
    store = GuardStore(path)
    existed = name in store.accounts()
    store.set_password(name, password)
    typer.echo(f"guard {name} {'updated' if existed else 'added'} in {path}")


@console_app.command("remove-guard")
def remove_guard(
    name: Annotated[str, typer.Argument(help="Guard id to remove.")],
    guards_file: GuardsFileOption = None,
) -> None:
    """Remove a guard account; every session of the guard ends, on running consoles too."""
    path = guards_file or default_guards_path(load_settings().data_dir)
    if not GuardStore(path).remove(name):
        raise typer.BadParameter(f"no guard {name!r} in {path}", param_hint="NAME")
    typer.echo(f"guard {name} removed from {path}")
