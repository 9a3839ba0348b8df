"""Where the DDL goes: one ClickHouse node, or every node of a cluster.

A single node (embedded chdb or one server) takes ``infra/clickhouse/migrations/`` as it
is. A cluster takes ``infra/clickhouse/cluster/``: the same tables as replicated tables on
every node plus ``Distributed`` tables of the single-node names, created ``ON CLUSTER``.
Those files are templates: :class:`ClusterTarget` fills in the cluster and database and
writes the ``TTL`` clauses only for a server that has ``TTL`` (19.6 and newer; Debian's
18.16 refuses the clause, so there the tables keep their rows until an operator drops
partitions). Each server fills in its own ``{shard}`` and ``{replica}`` macros.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from sinks.clickhouse.backend import AnalyticsBackend
from sinks.exceptions import MigrationError

__all__ = [
    "CLUSTER_MIGRATIONS_DIR",
    "SINGLE_NODE_MIGRATIONS_DIR",
    "TTL_SINCE",
    "ClusterTarget",
    "MigrationTarget",
    "SingleNode",
    "server_version",
]

_DDL_ROOT: Final = Path(__file__).resolve().parents[2] / "infra" / "clickhouse"
#: The DDL of one node (infra owns it).
SINGLE_NODE_MIGRATIONS_DIR: Final = _DDL_ROOT / "migrations"
#: The DDL of a cluster: templates with ``{cluster}``, ``{database}`` and ``{ttl ...}``.
CLUSTER_MIGRATIONS_DIR: Final = _DDL_ROOT / "cluster"
#: The first ClickHouse release with table ``TTL`` clauses.
TTL_SINCE: Final = (19, 6)
#: Cluster and database names go into DDL text, so only plain identifiers are taken.
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: ``{ttl <expression>}``: the table's TTL expression, written where the server has TTL.
_TTL: Final = re.compile(r"\{ttl ([^{}]+)\}")
#: Bookkeeping table of one node; plain MergeTree, one row per applied migration.
_SINGLE_NODE_LEDGER: Final = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version UInt32, name String, sha256 String, applied_at DateTime) "
    "ENGINE = MergeTree() ORDER BY version"
)
#: The cluster's ledger is replicated to every node of every shard (no ``{shard}`` in its
#: path), so a migration run from any node sees what was applied; ``{shard}-{replica}``
#: names each copy uniquely.
_CLUSTER_LEDGER: Final = (
    "CREATE TABLE IF NOT EXISTS {database}.schema_migrations ON CLUSTER {cluster} "
    "(version UInt32, name String, sha256 String, applied_at DateTime) "
    "ENGINE = ReplicatedMergeTree('/clickhouse/leakguard/{database}/schema_migrations', "
    "'{shard}-{replica}') ORDER BY version"
)


class MigrationTarget(Protocol):
    """What the migration runner needs to know about where the DDL goes."""

    @property
    def migrations_dir(self) -> Path:
        """The DDL files for this target."""
        ...

    def prepare(self, backend: AnalyticsBackend) -> None:
        """Create what must exist before any migration (the ledger)."""
        ...

    def render(self, statement: str) -> str:
        """``statement`` of a migration file as this target runs it."""
        ...


class SingleNode:
    """One node: the files run as written."""

    @property
    def migrations_dir(self) -> Path:
        """``infra/clickhouse/migrations``."""
        return SINGLE_NODE_MIGRATIONS_DIR

    def prepare(self, backend: AnalyticsBackend) -> None:
        """Create the node's ledger."""
        backend.execute(_SINGLE_NODE_LEDGER)

    def render(self, statement: str) -> str:
        """The statement unchanged."""
        return statement


@dataclass(frozen=True)
class ClusterTarget:
    """Every node of ``cluster``, for tables in ``database``; ``ttl``: the server has TTL.

    Build it with :meth:`of`, which asks the server for its version and its clusters.
    """

    cluster: str
    database: str
    ttl: bool

    def __post_init__(self) -> None:
        for what, name in (("cluster", self.cluster), ("database", self.database)):
            if _IDENTIFIER.fullmatch(name) is None:
                raise MigrationError(f"{what} name {name!r} is not a plain identifier")

    @classmethod
    def of(cls, backend: AnalyticsBackend, cluster: str) -> ClusterTarget:
        """The target ``cluster`` as the server ``backend`` is connected to knows it.

        Raises :class:`MigrationError` when that server has no such cluster in its
        ``remote_servers`` (a typo would otherwise surface as a DDL timeout).
        """
        if _IDENTIFIER.fullmatch(cluster) is None:
            raise MigrationError(f"cluster name {cluster!r} is not a plain identifier")
        known = backend.query(f"SELECT count() FROM system.clusters WHERE cluster = '{cluster}'")
        if not known.rows[0][0]:
            raise MigrationError(
                f"the ClickHouse server has no cluster {cluster!r} in its remote_servers "
                "(see system.clusters)"
            )
        return cls(
            cluster=cluster, database=backend.database, ttl=server_version(backend) >= TTL_SINCE
        )

    @property
    def migrations_dir(self) -> Path:
        """``infra/clickhouse/cluster``."""
        return CLUSTER_MIGRATIONS_DIR

    def prepare(self, backend: AnalyticsBackend) -> None:
        """Create the database and the replicated ledger on every node."""
        backend.execute(f"CREATE DATABASE IF NOT EXISTS {self.database} ON CLUSTER {self.cluster}")
        backend.execute(self.render(_CLUSTER_LEDGER))

    def render(self, statement: str) -> str:
        """Fill in cluster and database; a ``{ttl ...}`` becomes ``TTL ...`` or nothing."""
        text = _TTL.sub(lambda match: f"TTL {match.group(1)}" if self.ttl else "", statement)
        return text.replace("{cluster}", self.cluster).replace("{database}", self.database)


def server_version(backend: AnalyticsBackend) -> tuple[int, ...]:
    """The engine's version as numbers, ``(18, 16, 1)``."""
    text = str(backend.query("SELECT version()").rows[0][0])
    return tuple(int(part) for part in re.findall(r"\d+", text))
