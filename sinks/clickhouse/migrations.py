"""Versioned DDL: the files of ``infra/clickhouse/migrations/`` applied once each, in order.

infra owns the DDL (``NNNN_name.sql``, statements separated by ``;``); this module applies
it to any :class:`~sinks.clickhouse.backend.AnalyticsBackend` and records each applied file
with its SHA-256 in ``schema_migrations``. An applied file that changed on disk is an error:
migrations are history, a change is a new file. A migration interrupted half-way is simply
applied again: every ``CREATE`` is ``IF NOT EXISTS``, and an ``ALTER TABLE t ADD COLUMN c``
(ClickHouse 18.16 knows no ``IF NOT EXISTS`` there) adds one column and is skipped when
``t`` has ``c`` already.

Where the DDL goes is a :class:`~sinks.clickhouse.cluster.MigrationTarget`: one node (the
default) or every node of a cluster (``cluster=``), each with its own files and ledger.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.cluster import (
    SINGLE_NODE_MIGRATIONS_DIR,
    ClusterTarget,
    MigrationTarget,
    SingleNode,
)
from sinks.exceptions import MigrationError

__all__ = [
    "DEFAULT_MIGRATIONS_DIR",
    "Migration",
    "MigrationReport",
    "applied_migrations",
    "apply_migrations",
    "load_migrations",
    "split_statements",
]

#: The single-node DDL shipped with leakguard (infra owns it).
DEFAULT_MIGRATIONS_DIR: Final = SINGLE_NODE_MIGRATIONS_DIR
#: ``0001_event_tables.sql``: a four-digit version, a name.
_FILE_NAME: Final = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
#: ``ALTER TABLE <table> ADD COLUMN <column> ...``: the statement the runner checks before it
#: runs, since ClickHouse 18.16 cannot say ``IF NOT EXISTS`` there.
_ADD_COLUMN: Final = re.compile(r"ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\s", re.IGNORECASE)
_ADD_COLUMN_CLAUSE: Final = re.compile(r"\bADD\s+COLUMN\b", re.IGNORECASE)


@dataclass(frozen=True)
class Migration:
    """One DDL file: its version, name, statements and content hash."""

    version: int
    name: str
    statements: tuple[str, ...]
    sha256: str


@dataclass(frozen=True)
class MigrationReport:
    """What :func:`apply_migrations` did: versions applied now and already present."""

    applied: tuple[int, ...]
    present: tuple[int, ...]


def split_statements(text: str) -> list[str]:
    """The statements of a DDL file: ``--`` comments dropped, split on ``;``.

    The DDL holds no string literals with ``;`` or ``--`` in them, which keeps this simple.
    """
    lines = [line.split("--", 1)[0] for line in text.splitlines()]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def load_migrations(directory: Path = DEFAULT_MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file of ``directory`` in version order; a gap or stray file fails."""
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        text = path.read_text()
        statements = tuple(split_statements(text))
        for statement in statements:
            if _ADD_COLUMN.match(statement) and len(_ADD_COLUMN_CLAUSE.findall(statement)) > 1:
                raise MigrationError(
                    f"{path.name}: add one column per ALTER statement, so a migration cut "
                    "off half-way can be applied again"
                )
        migrations.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                statements=statements,
                sha256=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    versions = [migration.version for migration in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migration versions must be 1, 2, 3... without gaps: {versions}")
    return migrations


def applied_migrations(
    backend: AnalyticsBackend, target: MigrationTarget | None = None
) -> dict[int, str]:
    """Version -> SHA-256 of the migrations recorded in the database (one node by default)."""
    (target or SingleNode()).prepare(backend)
    result = backend.query("SELECT version, sha256 FROM schema_migrations ORDER BY version")
    return {int(version): str(sha256) for version, sha256 in result.rows}


def apply_migrations(
    backend: AnalyticsBackend,
    migrations: list[Migration] | None = None,
    *,
    cluster: str | None = None,
) -> MigrationReport:
    """Apply the migrations ``backend`` lacks, in order; idempotent.

    ``cluster`` names the cluster (in the server's ``remote_servers``) whose every node gets
    the cluster DDL ``ON CLUSTER``; ``None`` applies the single-node DDL to ``backend``'s
    node. ``migrations`` replaces the files of the target's directory.
    Raises :class:`MigrationError` when an applied migration's file has changed since.
    """
    target: MigrationTarget = (
        SingleNode() if cluster is None else ClusterTarget.of(backend, cluster)
    )
    migrations = load_migrations(target.migrations_dir) if migrations is None else migrations
    done = applied_migrations(backend, target)
    applied: list[int] = []
    for migration in migrations:
        recorded = done.get(migration.version)
        if recorded is not None:
            if recorded != migration.sha256:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} was changed after it "
                    "was applied; add a new migration instead"
                )
            continue
        for statement in migration.statements:
            if not _column_exists(backend, statement):
                backend.execute(target.render(statement))
        backend.insert(
            "schema_migrations",
            ("version", "name", "sha256", "applied_at"),
            [(migration.version, migration.name, migration.sha256, int(time.time()))],
        )
        applied.append(migration.version)
    present = tuple(version for version in done if version not in applied)
    return MigrationReport(applied=tuple(applied), present=present)


def _column_exists(backend: AnalyticsBackend, statement: str) -> bool:
    """Whether ``statement`` adds a column its table already has (applied before a cut-off)."""
    match = _ADD_COLUMN.match(statement)
    if match is None:
        return False
    table, column = match.groups()
    return any(row[0] == column for row in backend.query(f"DESCRIBE TABLE {table}").rows)
