"""A throw-away ZooKeeper for tests and local runs: Debian's ``zookeeper`` package.

Replicated ClickHouse tables keep their replication log in ZooKeeper, so a local ClickHouse
cluster (:mod:`infra.clickhouse_cluster`) needs one. It runs standalone as a child process
of the JVM on a free loopback port, with its data and config in a directory of its own, so
it never touches ``/etc/zookeeper`` or a system service.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Final

from infra.exceptions import ZooKeeperError
from infra.processes import LOOPBACK, ServiceProcess, free_port

#: Debian's ZooKeeper jar; its manifest names the jars it needs under /usr/share/java.
ZOOKEEPER_JAR: Final = Path("/usr/share/java/zookeeper.jar")
#: A logging backend for those jars (Debian's zookeeper depends on it), so the server's log
#: says why a client was refused instead of nothing.
_LOG_JAR: Final = Path("/usr/share/java/slf4j-simple.jar")
#: Standalone server entry point (the quorum one wants a cluster config).
_MAIN_CLASS: Final = "org.apache.zookeeper.server.ZooKeeperServerMain"
#: A JVM start plus snapshot load takes a few seconds on a loaded 2-core host.
DEFAULT_STARTUP_TIMEOUT_S: Final = 60.0
#: Short ticks so sessions of a stopped ClickHouse replica expire within seconds, not 30 s.
_TICK_MS: Final = 500
#: Heap for a test-sized tree; the JVM default would claim a quarter of the host's memory.
_HEAP: Final = "-Xmx256m"

_CONFIG: Final = """tickTime={tick_ms}
dataDir={data}
clientPort={port}
clientPortAddress={host}
admin.enableServer=false
4lw.commands.whitelist=srvr
"""


class LocalZooKeeper(ServiceProcess):
    """A standalone ZooKeeper child process with its data under ``root``."""

    _name = "ZooKeeper"
    _error = ZooKeeperError
    _stop_timeout_s = 10.0

    def __init__(
        self,
        *,
        root: Path,
        host: str = LOOPBACK,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    ) -> None:
        self._root = root
        self._host = host
        self._startup_timeout_s = startup_timeout_s
        self._port: int | None = None

    @property
    def host(self) -> str:
        """Address it listens on."""
        return self._host

    @property
    def port(self) -> int:
        """Client port."""
        if self._port is None:
            raise ZooKeeperError("ZooKeeper has not been started")
        return self._port

    def start(self) -> None:
        """Write the config, start the server and wait until it serves requests."""
        java = shutil.which("java")
        if java is None or not ZOOKEEPER_JAR.exists():
            raise ZooKeeperError("ZooKeeper is not installed: apt-get install zookeeper")
        if self._port is None:
            self._port = free_port(self._host)
        (self._root / "data").mkdir(parents=True, exist_ok=True)
        config = self._root / "zoo.cfg"
        config.write_text(
            _CONFIG.format(
                tick_ms=_TICK_MS, data=self._root / "data", port=self._port, host=self._host
            )
        )
        # Tied to us: a killed test run must not leave a JVM behind.
        log_path = self._root / "zookeeper.log"
        self._spawn(
            [java, _HEAP, "-cp", f"{ZOOKEEPER_JAR}:{_LOG_JAR}", _MAIN_CLASS, str(config)],
            log_path=log_path,
            cwd=self._root,
        )
        self._wait_until_ready(
            self._serving, timeout_s=self._startup_timeout_s, log_hint=f"see {log_path}"
        )

    def _serving(self) -> bool:
        """Whether ``srvr`` reports a serving server. Not ``ruok``: that answers ``imok`` while
        the database is still loading, and a ClickHouse 18.16 server whose first session is
        dropped then crashes in its DDL worker."""
        try:
            with socket.create_connection((self._host, self.port), timeout=1.0) as connection:
                connection.sendall(b"srvr")
                answer = connection.makefile("rb").read()
        except OSError:
            return False
        return b"Mode: standalone" in answer
