"""The embedded local stack behind ``leakguard stack up|down|status``.

``stack up`` starts a detached embedded broker, creates every topic from the spec and
prepares the chdb analytics store under the data directory; it records the broker in
``<data dir>/stack.json`` so that later commands find it and ``stack down`` can stop it.
With a Kafka URL configured there is nothing to start: commands use that cluster.

``stack up --durable`` first starts an S3-compatible server keeping its objects under
``<data dir>/broker-storage`` and gives the broker S3 storage there, so every topic outlives
``stack down``. Whenever it starts a broker, ``stack up`` has the model registry re-announce
its rollout state (:mod:`infra.registry_announce`), so edges find their model on
``model.updates`` even when the broker's memory was lost. A failed announcement leaves the
stack up and is recorded as pending, so the next ``stack up`` on the running stack tries
again instead of answering "already running" with the edges still in the dark.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Final

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from infra.broker import MEMORY_STORAGE, EmbeddedBroker, resolve_broker_binary, wait_for_metadata
from infra.exceptions import BrokerError
from infra.processes import process_alive, terminate_process
from infra.registry_announce import AnnounceOutcome, announce_rollout_state
from infra.s3_server import S3Endpoint, S3Server, resolve_s3_server
from infra.settings import LeakguardSettings
from infra.topic_overrides import effective_spec
from infra.topics import ApplyReport, apply_topics, load_spec, with_internal_topics
from leakguard.errors import LeakguardError
from sinks.clickhouse.chdb_session import open_chdb_session

#: syslog level 4: librdkafka's informational lines (queue purges on close) are noise in a CLI.
LIBRDKAFKA_WARNING: Final = 4
#: Folder under the data dir where ``stack up --durable`` keeps the broker's objects.
DURABLE_STORAGE_DIR: Final = "broker-storage"


def _is_process_of(pid: int, binary: str) -> bool:
    """Whether ``pid`` runs and was started as ``binary`` (guards against pid reuse)."""
    if not process_alive(pid):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return command.decode(errors="replace") == binary


@dataclass(frozen=True)
class StorageState:
    """The S3-compatible server a durable stack keeps its topics in."""

    pid: int
    binary: str
    endpoint: str
    data_dir: str
    log_path: str

    def is_running(self) -> bool:
        """Whether the recorded process is still our storage server."""
        return _is_process_of(self.pid, self.binary)


@dataclass(frozen=True)
class StackState:
    """What ``stack up`` started, as recorded in ``stack.json``; ``storage`` is ``None`` for
    a broker that keeps its topics in memory; ``announce_pending`` says the registry's rollout
    state has not reached this broker yet."""

    pid: int
    bootstrap_servers: str
    binary: str
    log_path: str
    started_at: float
    storage: StorageState | None = None
    announce_pending: bool = False

    @property
    def durable(self) -> bool:
        """Whether the broker's topics outlive it."""
        return self.storage is not None

    def is_running(self) -> bool:
        """Whether the recorded process is still our broker."""
        return _is_process_of(self.pid, self.binary)


def read_state(settings: LeakguardSettings) -> StackState | None:
    """The recorded stack, or ``None`` when ``stack up`` never ran (or the file is unreadable)."""
    try:
        data = json.loads(settings.stack_state_path.read_text())
        storage = data.pop("storage", None)
        return StackState(**data, storage=None if storage is None else StorageState(**storage))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def resolve_bootstrap_servers(settings: LeakguardSettings) -> str | None:
    """The configured cluster, else the running ``stack up`` broker, else ``None``."""
    if settings.kafka.bootstrap_servers is not None:
        return settings.kafka.bootstrap_servers
    state = read_state(settings)
    if state is not None and state.is_running():
        return state.bootstrap_servers
    return None


def require_bootstrap_servers(settings: LeakguardSettings) -> str:
    """Like :func:`resolve_bootstrap_servers`, but explains how to get a broker when none runs."""
    servers = resolve_bootstrap_servers(settings)
    if servers is None:
        raise BrokerError(
            "no Kafka broker: set LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS or run `leakguard stack up`"
        )
    return servers


def admin_client(settings: LeakguardSettings, bootstrap_servers: str) -> AdminClient:
    """An admin client with the configured security options."""
    return AdminClient(
        {
            "bootstrap.servers": bootstrap_servers,
            "client.id": f"{settings.kafka.client_id_prefix}-admin",
            "log.connection.close": False,
            "log_level": LIBRDKAFKA_WARNING,
            **settings.kafka.client_config(),
        }
    )


@dataclass(frozen=True)
class StackUpResult:
    """What ``stack up`` did; ``announced`` is ``None`` when the broker was already running
    and had its rollout state."""

    state: StackState
    already_running: bool
    topics: ApplyReport
    chdb_path: Path
    announced: AnnounceOutcome | None


def stack_up(settings: LeakguardSettings, *, durable: bool = False) -> StackUpResult:
    """Start the embedded broker (unless running), apply the topic spec, prepare chdb, and
    re-announce the registry's rollout state on a broker it started (or on a running one
    whose announcement failed before).

    ``durable`` starts the S3-compatible storage server first and keeps the topics there.
    Raises :class:`BrokerError` when ``durable`` is asked of a running in-memory stack. A
    failed announcement is not raised: the stack is up, the outcome says why, and the state
    records it as pending for the next ``stack up``.
    """
    state = read_state(settings)
    already_running = state is not None and state.is_running()
    if state is not None and already_running:
        if durable and not state.durable:
            raise BrokerError(
                "the running stack keeps its topics in memory: `leakguard stack down` it, "
                "then `leakguard stack up --durable`"
            )
    else:
        if state is not None:
            _stop_storage(state)  # a broker that died leaves its storage server orphaned
        state = replace(_start_stack(settings, durable=durable), announce_pending=True)
        _write_state(settings, state)
    # The cloud join's internal topics too, so a local cloud worker finds them as in
    # production, and those of the configured sites (LEAKGUARD_SITES), so a local fleet runs.
    report = apply_topics(
        admin_client(settings, state.bootstrap_servers),
        with_internal_topics(effective_spec(None, None, settings.sites)),
    )
    open_chdb_session(settings.chdb_path).close()
    announced = None
    if state.announce_pending:
        announced = _announce(settings, state.bootstrap_servers)
        state = replace(state, announce_pending=announced.failed is not None)
        _write_state(settings, state)
    return StackUpResult(state, already_running, report, settings.chdb_path, announced)


def _announce(settings: LeakguardSettings, bootstrap_servers: str) -> AnnounceOutcome:
    """The registry's announcement, a failure (a damaged key or registry, a broker that does
    not take the update) reported in the outcome: the broker it was for is up regardless."""
    try:
        return announce_rollout_state(settings, bootstrap_servers)
    except (LeakguardError, KafkaException) as exc:
        return AnnounceOutcome(failed=str(exc))


def _write_state(settings: LeakguardSettings, state: StackState) -> None:
    settings.stack_state_path.parent.mkdir(parents=True, exist_ok=True)
    settings.stack_state_path.write_text(json.dumps(asdict(state), indent=2))


def _start_stack(settings: LeakguardSettings, *, durable: bool) -> StackState:
    """Start the detached storage server (when ``durable``) and the broker on it."""
    storage: StorageState | None = None
    storage_engine, environment = MEMORY_STORAGE, {}
    if durable:
        storage, endpoint = _start_storage(settings)
        storage_engine, environment = endpoint.storage_engine, endpoint.broker_environment()
    log_path = settings.data_dir / "broker.log"
    binary = resolve_broker_binary()
    broker = EmbeddedBroker(
        binary=binary,
        log_path=log_path,
        die_with_parent=False,
        storage_engine=storage_engine,
        environment=environment,
    )
    try:
        endpoint_of_broker = broker.start()
    except BrokerError:
        if storage is not None:
            terminate_process(storage.pid)
        raise
    return StackState(
        pid=broker.pid,
        bootstrap_servers=endpoint_of_broker.bootstrap_servers,
        binary=binary,
        log_path=str(log_path),
        started_at=time.time(),
        storage=storage,
    )


def _start_storage(settings: LeakguardSettings) -> tuple[StorageState, S3Endpoint]:
    """Start the S3-compatible server of a durable stack, detached, on its data folder."""
    data_dir = settings.data_dir / DURABLE_STORAGE_DIR
    log_path = settings.data_dir / "broker-storage.log"
    command = resolve_s3_server()
    server = S3Server(data_dir=data_dir, command=command, log_path=log_path, die_with_parent=False)
    endpoint = server.start()
    state = StorageState(
        pid=server.pid,
        binary=command.node,
        endpoint=endpoint.url,
        data_dir=str(data_dir),
        log_path=str(log_path),
    )
    return state, endpoint


def _stop_storage(state: StackState) -> None:
    if state.storage is not None and state.storage.is_running():
        terminate_process(state.storage.pid)


def stack_down(settings: LeakguardSettings) -> StackState | None:
    """Stop the broker ``stack up`` started, then its storage server; returns what was
    stopped, if anything. A durable stack's objects stay on disk for the next start."""
    state = read_state(settings)
    if state is None:
        return None
    if state.is_running():
        terminate_process(state.pid)
    _stop_storage(state)
    settings.stack_state_path.unlink(missing_ok=True)
    return state


@dataclass(frozen=True)
class StackStatus:
    """Health of the recorded stack."""

    state: StackState | None
    process_running: bool
    broker_answers: bool
    topics: list[str]
    storage_running: bool | None = None


def stack_status(settings: LeakguardSettings) -> StackStatus:
    """Whether the recorded broker runs and answers, and which spec topics exist on it."""
    state = read_state(settings)
    storage_running = None if state is None or state.storage is None else state.storage.is_running()
    if state is None or not state.is_running():
        return StackStatus(state, False, False, [], storage_running)
    try:
        wait_for_metadata(state.bootstrap_servers, timeout_s=5.0)
    except BrokerError:
        return StackStatus(state, True, False, [], storage_running)
    metadata = admin_client(settings, state.bootstrap_servers).list_topics(timeout=5.0)
    names = set(load_spec().names)
    return StackStatus(state, True, True, sorted(names & set(metadata.topics)), storage_running)
