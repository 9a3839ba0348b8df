"""A throw-away ClickHouse cluster for tests and local runs: one shard of replicas.

Each replica is a :class:`~infra.clickhouse_server.LocalClickHouseServer` with the cluster
written into its config: ``remote_servers`` naming every replica, its ``{shard}`` and
``{replica}`` macros, its own interserver port (replicas fetch parts from each other over
HTTP) and the :class:`~infra.zookeeper.LocalZooKeeper` that coordinates them. All ports are
free loopback ports chosen before the first server starts, since every config names them
all. A replica can be stopped and started again on the same ports and data, which is how
the tests take one away.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from infra.clickhouse_server import LocalClickHouseServer
from infra.exceptions import ClickHouseError
from infra.processes import LOOPBACK, ServiceProcess, free_port
from infra.zookeeper import LocalZooKeeper

#: The cluster name the generated configs use (``ON CLUSTER leakguard``).
DEFAULT_CLUSTER: Final = "leakguard"
#: The shard macro of the one shard.
SHARD: Final = "01"

_CLUSTER_XML: Final = """  <interserver_http_host>{host}</interserver_http_host>
  <interserver_http_port>{interserver_port}</interserver_http_port>
  <remote_servers>
    <{cluster}>
      <shard>
        <internal_replication>true</internal_replication>
{replicas}
      </shard>
    </{cluster}>
  </remote_servers>
  <macros><cluster>{cluster}</cluster><shard>{shard}</shard><replica>{replica}</replica></macros>
  <zookeeper><node><host>{zk_host}</host><port>{zk_port}</port></node></zookeeper>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
"""
_REPLICA_XML: Final = "        <replica><host>{host}</host><port>{port}</port></replica>"
#: Default-profile settings of every replica. 18.16 creates ``LowCardinality`` columns only
#: with allow_experimental_low_cardinality_type (newer servers ignore it), and ON CLUSTER DDL
#: runs under each server's default profile, so it goes there. ``poll_interval``: an idle
#: client connection notices a shutdown within 1 s instead of 10, so stopping a replica
#: that a sink is connected to takes a second, not a SIGKILL after the stop timeout.
PROFILE_SETTINGS: Final = (
    "<allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>"
    "<poll_interval>1</poll_interval>"
)


class LocalClickHouseCluster(ServiceProcess):
    """ZooKeeper plus ``replicas`` ClickHouse servers forming one shard, under ``root``."""

    def __init__(
        self,
        *,
        root: Path,
        replicas: int = 2,
        cluster: str = DEFAULT_CLUSTER,
        host: str = LOOPBACK,
    ) -> None:
        if replicas < 1:
            raise ClickHouseError(f"a cluster needs at least one replica, not {replicas}")
        self._root = root
        self._cluster = cluster
        self._host = host
        self._zookeeper = LocalZooKeeper(root=root / "zookeeper", host=host)
        self._replica_count = replicas
        self._servers: list[LocalClickHouseServer] = []

    @property
    def cluster(self) -> str:
        """Cluster name for ``ON CLUSTER`` and ``Distributed``."""
        return self._cluster

    @property
    def zookeeper(self) -> LocalZooKeeper:
        """The coordinator."""
        return self._zookeeper

    @property
    def replicas(self) -> tuple[LocalClickHouseServer, ...]:
        """The servers, in the order ``remote_servers`` lists them."""
        if not self._servers:
            raise ClickHouseError("the ClickHouse cluster has not been started")
        return tuple(self._servers)

    def start(self) -> None:
        """Start ZooKeeper, then every replica, each waited on until it answers."""
        self._zookeeper.start()
        tcp_ports = [free_port(self._host) for _ in range(self._replica_count)]
        replicas_xml = "\n".join(
            _REPLICA_XML.format(host=self._host, port=port) for port in tcp_ports
        )
        try:
            for index, port in enumerate(tcp_ports, start=1):
                config = _CLUSTER_XML.format(
                    host=self._host,
                    interserver_port=free_port(self._host),
                    cluster=self._cluster,
                    replicas=replicas_xml,
                    shard=SHARD,
                    replica=f"r{index}",
                    zk_host=self._zookeeper.host,
                    zk_port=self._zookeeper.port,
                )
                server = LocalClickHouseServer(
                    root=self._root / f"replica{index}",
                    host=self._host,
                    tcp_port=port,
                    extra_config=config,
                    profile_settings=PROFILE_SETTINGS,
                )
                self._servers.append(server)
                server.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every replica, then ZooKeeper; idempotent."""
        for server in self._servers:
            server.stop()
        self._zookeeper.stop()
