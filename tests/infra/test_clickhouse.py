"""Both ClickHouse engines leakguard supports answer, and one DDL file works on both."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client

from infra.clickhouse_server import LocalClickHouseServer
from infra.processes import process_alive
from sinks.clickhouse.chdb_session import open_chdb_session
from sinks.exceptions import ChdbDirectoryError

DDL_PATH = Path(__file__).with_name("probe_table.sql")
ROWS = [
    ("a", 1, datetime(2026, 11, 21, 10, 0, 0)),
    ("b", 2, datetime(2026, 11, 21, 10, 0, 1)),
    ("a", 3, datetime(2026, 11, 21, 10, 0, 2)),
]
INSERT_SQL = "INSERT INTO probe (event_id, version, event_time) VALUES"


def _insert_sql_with_values() -> str:
    """chdb takes literal values; the native driver sends the rows as a block instead."""
    values = ", ".join(
        f"('{key}', {version}, '{at:%Y-%m-%d %H:%M:%S}')" for key, version, at in ROWS
    )
    return f"{INSERT_SQL} {values}"


COUNT_SQL = "SELECT event_id, max(version) FROM probe GROUP BY event_id ORDER BY event_id"


@pytest.mark.integration
def test_server_answers_and_runs_the_ddl_file(clickhouse_server: LocalClickHouseServer) -> None:
    client = Client(
        host=clickhouse_server.host, port=clickhouse_server.tcp_port, send_receive_timeout=30
    )
    try:
        assert client.execute("SELECT 1") == [(1,)]
        client.execute("CREATE DATABASE IF NOT EXISTS probe_db")
        client.execute("DROP TABLE IF EXISTS probe_db.probe")
        client.disconnect()
        client = Client(
            host=clickhouse_server.host,
            port=clickhouse_server.tcp_port,
            database="probe_db",
            send_receive_timeout=30,
        )
        client.execute(DDL_PATH.read_text())
        client.execute(INSERT_SQL, ROWS)
        assert client.execute(COUNT_SQL) == [("a", 3), ("b", 2)]
    finally:
        client.disconnect()


def test_chdb_answers_and_runs_the_ddl_file(chdb_session: Any) -> None:
    assert str(chdb_session.query("SELECT 1", "CSV")).strip() == "1"
    chdb_session.query("CREATE DATABASE IF NOT EXISTS probe_db")
    chdb_session.query("USE probe_db")
    chdb_session.query(DDL_PATH.read_text())
    chdb_session.query(_insert_sql_with_values())
    result = json.loads(str(chdb_session.query(COUNT_SQL, "JSONCompact")))
    assert result["data"] == [["a", 3], ["b", 2]]


def test_chdb_refuses_a_directory_holding_a_server_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.xml").write_text("<yandex/>")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ChdbDirectoryError, match=r"config\.xml"):
        open_chdb_session(tmp_path / "chdb")


_PARENT_SCRIPT = """
import pathlib, sys, time
from infra.clickhouse_server import LocalClickHouseServer
server = LocalClickHouseServer(root=pathlib.Path(sys.argv[1]))
server.start()
print(server.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.integration
def test_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    assert process_alive(server_pid)
    parent.kill()
    parent.wait(timeout=30)
    deadline = time.monotonic() + 20
    while process_alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(server_pid)
