"""``leakguard analytics migrate`` as a user runs it, on embedded chdb and on the server."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.clickhouse_server import LocalClickHouseServer
from tests.cli_kit import run_leakguard


def test_migrate_on_embedded_chdb_is_idempotent(tmp_path: Path) -> None:
    first = run_leakguard(["analytics", "migrate"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "applied 0001, 0002" in first.stdout
    second = run_leakguard(["analytics", "migrate"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "applied none" in second.stdout


@pytest.mark.integration
def test_migrate_on_the_server(
    clickhouse_server: LocalClickHouseServer, tmp_path: Path, unique_name: str
) -> None:
    database = unique_name.replace("-", "_")
    result = run_leakguard(
        ["analytics", "migrate"],
        tmp_path,
        LEAKGUARD_CLICKHOUSE__URL=clickhouse_server.url,
        LEAKGUARD_CLICKHOUSE__DATABASE=database,
    )
    assert result.returncode == 0, result.stderr
    assert f"database {database}" in result.stdout
    assert "applied 0001, 0002" in result.stdout


def test_annotate_without_a_grafana_url_says_what_to_set(tmp_path: Path) -> None:
    result = run_leakguard(["dashboards", "annotate"], tmp_path)
    assert result.returncode != 0
    assert "LEAKGUARD_GRAFANA__URL" in result.stdout + result.stderr
