"""The versioned DDL applies on both engines, once, and its tables match the row mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from sinks.clickhouse.backend import AnalyticsBackend
from sinks.clickhouse.migrations import (
    apply_migrations,
    load_migrations,
    split_statements,
)
from sinks.clickhouse.rows import TABLES
from sinks.exceptions import MigrationError


def test_migrations_apply_once_and_tables_match_the_row_mapping(
    backend: AnalyticsBackend,
) -> None:
    migrations = load_migrations()
    first = apply_migrations(backend, migrations)
    assert first.applied == tuple(m.version for m in migrations)
    second = apply_migrations(backend, migrations)
    assert second.applied == ()
    assert second.present == first.applied
    for table, columns in TABLES.items():
        described = backend.query(f"DESCRIBE TABLE {table}")
        assert tuple(row[0] for row in described.rows) == columns, table
    for view in ("detections_hourly", "outcomes_hourly"):
        assert backend.query(f"SELECT count() FROM {view}").rows == [(0,)]


def test_a_migration_cut_off_after_adding_a_column_is_applied_again(
    backend: AnalyticsBackend,
) -> None:
    """ClickHouse 18.16 has no ``ADD COLUMN IF NOT EXISTS``: the runner skips a column the
    table has already, so a migration that died before its ledger row runs again cleanly."""
    migrations = load_migrations()
    adds_columns = next(m for m in migrations if m.statements[0].startswith("ALTER TABLE"))
    apply_migrations(backend, migrations[: adds_columns.version - 1])
    backend.execute(adds_columns.statements[0])  # cut off here, nothing recorded
    report = apply_migrations(backend, migrations)
    assert adds_columns.version in report.applied
    described = backend.query("DESCRIBE TABLE verdicts")
    assert tuple(row[0] for row in described.rows) == TABLES["verdicts"]


def test_a_migration_adding_two_columns_in_one_statement_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_two.sql").write_text("ALTER TABLE t ADD COLUMN a UInt8, ADD COLUMN b UInt8")
    with pytest.raises(MigrationError, match="one column per ALTER"):
        load_migrations(tmp_path)


def test_a_changed_applied_migration_is_refused(
    chdb_backend: AnalyticsBackend, tmp_path: Path
) -> None:
    ddl = tmp_path / "0001_probe.sql"
    ddl.write_text("CREATE TABLE IF NOT EXISTS probe (a UInt8) ENGINE = MergeTree() ORDER BY a")
    apply_migrations(chdb_backend, load_migrations(tmp_path))
    ddl.write_text("CREATE TABLE IF NOT EXISTS probe (a UInt16) ENGINE = MergeTree() ORDER BY a")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        apply_migrations(chdb_backend, load_migrations(tmp_path))


def test_migration_files_need_versions_without_gaps(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1")
    (tmp_path / "0003_c.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="without gaps"):
        load_migrations(tmp_path)


def test_statements_split_on_semicolons_without_comments() -> None:
    text = "-- header; not a statement\nCREATE TABLE a (x UInt8) -- trailing\n;\n\nSELECT 1;\n"
    assert split_statements(text) == ["CREATE TABLE a (x UInt8)", "SELECT 1"]
