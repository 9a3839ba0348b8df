"""Fixtures of the sink tests: a fresh analytics database on each real engine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.clickhouse_server import LocalClickHouseServer
from sinks.clickhouse.backend import AnalyticsBackend, ChdbBackend, DriverBackend


@pytest.fixture
def driver_backend(
    clickhouse_server: LocalClickHouseServer, unique_name: str
) -> Iterator[DriverBackend]:
    """A database of its own on the session's ClickHouse server, dropped afterwards."""
    database = unique_name.replace("-", "_")
    backend = DriverBackend(url=clickhouse_server.url, database=database)
    try:
        yield backend
    finally:
        backend.execute(f"DROP DATABASE IF EXISTS {database}")
        backend.close()


@pytest.fixture
def chdb_backend(chdb_session: Any) -> ChdbBackend:
    """The analytics database in this test's embedded chdb session."""
    return ChdbBackend(database="leakguard", session=chdb_session)


@pytest.fixture(params=["server", "chdb"])
def backend(request: pytest.FixtureRequest) -> AnalyticsBackend:
    """Each engine in turn: the ClickHouse server (integration) and embedded chdb."""
    if request.param == "server":
        request.applymarker(pytest.mark.integration)
        server_backend: AnalyticsBackend = request.getfixturevalue("driver_backend")
        return server_backend
    chdb: AnalyticsBackend = request.getfixturevalue("chdb_backend")
    return chdb
