"""A throw-away ClickHouse server for tests and local runs: Debian's ``clickhouse-server``.

It runs as the current user on free loopback ports with a temporary data directory and a
generated config, so it never touches a system installation (``/etc/clickhouse-server``)
and several can run side by side. The tests use it to prove that leakguard's DDL and
queries work on a real server (Debian ships 18.16, an old version: keeping DDL portable to
it keeps it portable to every newer server and to ``chdb``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

from infra.exceptions import ClickHouseError
from infra.processes import LOOPBACK, ServiceProcess, free_port

#: Debian installs the server binary here; ``$PATH`` is searched first.
SERVER_BINARY: Final = "clickhouse-server"
#: A cold 18.16 server needs a few seconds to load its system tables on a loaded 2-core host.
DEFAULT_STARTUP_TIMEOUT_S: Final = 60.0
#: Caches sized for tests, not the production defaults of several GiB.
_CACHE_BYTES: Final = 256 * 1024 * 1024

_CONFIG_XML: Final = """<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{root}/log/server.log</log>
    <errorlog>{root}/log/server.err.log</errorlog>
    <console>0</console>
  </logger>
  <listen_host>{host}</listen_host>
  <tcp_port>{tcp_port}</tcp_port>
  <http_port>{http_port}</http_port>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <user_files_path>{root}/user_files/</user_files_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>{cache_bytes}</mark_cache_size>
  <uncompressed_cache_size>{cache_bytes}</uncompressed_cache_size>
  <mlock_executable>false</mlock_executable>
{extra_config}
</yandex>
"""

_USERS_XML: Final = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage>{profile_settings}</default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


class LocalClickHouseServer(ServiceProcess):
    """A ``clickhouse-server`` child process with its own config and data under ``root``.

    ``tcp_port`` fixes the native port (a cluster's ``remote_servers`` must name it before the
    server starts; free otherwise); ``extra_config`` is XML added to the server config
    (cluster, macros, ZooKeeper) and ``profile_settings`` XML added to the default profile.
    """

    _name = "clickhouse-server"
    _error = ClickHouseError
    _stop_timeout_s = 10.0

    def __init__(
        self,
        *,
        root: Path,
        host: str = LOOPBACK,
        binary: str | None = None,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
        tcp_port: int | None = None,
        extra_config: str = "",
        profile_settings: str = "",
    ) -> None:
        self._root = root
        self._host = host
        self._binary = binary
        self._startup_timeout_s = startup_timeout_s
        self._tcp_port: int | None = tcp_port
        self._http_port: int | None = None
        self._extra_config = extra_config
        self._profile_settings = profile_settings

    @property
    def host(self) -> str:
        """Address the server listens on."""
        return self._host

    @property
    def tcp_port(self) -> int:
        """Native-protocol port (what ``clickhouse-driver`` speaks)."""
        if self._tcp_port is None:
            raise ClickHouseError("the ClickHouse server has not been started")
        return self._tcp_port

    @property
    def url(self) -> str:
        """``clickhouse://`` URL of the default user and database."""
        return f"clickhouse://default@{self._host}:{self.tcp_port}/default"

    def start(self) -> None:
        """Write the config, start the server (or restart it on its ports) and wait for it.

        Restarting after :meth:`stop` keeps the data directory and ports, which is how tests
        take the server away for a while and bring it back.
        """
        from clickhouse_driver.errors import Error as DriverError

        binary = self._binary or shutil.which(SERVER_BINARY)
        if binary is None:
            raise ClickHouseError(
                "clickhouse-server is not installed: apt-get install clickhouse-server"
            )
        if self._tcp_port is None:
            self._tcp_port = free_port(self._host)
        if self._http_port is None:
            self._http_port = free_port(self._host)
        config_path = self._write_config()
        # Tied to us: a killed test run must not leave a server behind. Its own log files are
        # configured in config.xml; its console output is discarded.
        self._spawn([binary, f"--config-file={config_path}"], cwd=self._root)
        self._wait_until_ready(
            self._answers,
            timeout_s=self._startup_timeout_s,
            log_hint=f"see {self._root / 'log'}",
            retry_on=(DriverError, OSError, EOFError),
        )

    def _write_config(self) -> Path:
        for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
            (self._root / sub).mkdir(parents=True, exist_ok=True)
        config_path = self._root / "config.xml"
        config_path.write_text(
            _CONFIG_XML.format(
                root=self._root,
                host=self._host,
                tcp_port=self._tcp_port,
                http_port=self._http_port,
                cache_bytes=_CACHE_BYTES,
                extra_config=self._extra_config,
            )
        )
        (self._root / "users.xml").write_text(
            _USERS_XML.format(profile_settings=self._profile_settings)
        )
        return config_path

    def _answers(self) -> bool:
        from clickhouse_driver import Client

        client = Client(host=self._host, port=self.tcp_port, connect_timeout=1)
        try:
            return bool(client.execute("SELECT 1") == [(1,)])
        finally:
            client.disconnect()
