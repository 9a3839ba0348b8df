"""``leakguard analytics``: apply the ClickHouse DDL and run the sink worker.

Mounted lazily by ``infra/cli.py`` so ``leakguard --help`` stays free of the ClickHouse and
Kafka client imports.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import typer
from rich.console import Console

from infra.settings import load_settings
from infra.stack import require_bootstrap_servers
from sinks.clickhouse.migrations import apply_migrations
from sinks.clickhouse.service import build_sink_worker, open_backend

console = Console()

app = typer.Typer(
    help="ClickHouse analytics: DDL migrations and the sink worker.", no_args_is_help=True
)


@app.command("migrate")
def migrate() -> None:
    """Apply the migrations of infra/clickhouse/migrations the database lacks (idempotent)."""
    settings = load_settings()
    backend = open_backend(settings)
    try:
        report = apply_migrations(backend)
    finally:
        backend.close()
    where = settings.clickhouse.url or f"chdb under {settings.chdb_path}"
    applied = ", ".join(f"{v:04d}" for v in report.applied) or "none"
    console.print(f"database {backend.database} on {where}: applied {applied}")
    console.print(f"already present: {len(report.present)}")


@app.command("sink")
def sink() -> None:
    """Consume the analytics topics into ClickHouse until interrupted (Ctrl-C, SIGTERM)."""
    settings = load_settings()
    backend = open_backend(settings)
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        apply_migrations(backend)
        worker = build_sink_worker(
            settings, backend=backend, bootstrap_servers=require_bootstrap_servers(settings)
        )
        console.print(f"sink running into database {backend.database}; Ctrl-C stops it")
        worker.run(stop)
    finally:
        backend.close()
