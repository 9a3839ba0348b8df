"""The embedded local stack behind ``leakguard stack up|down|status``.

``stack up`` starts a detached embedded broker, creates every topic from the spec and
prepares the chdb analytics store under the data directory; it records the broker in
``<data dir>/stack.json`` so that later commands find it and ``stack down`` can stop it.
With a Kafka URL configured there is nothing to start: commands use that cluster.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from confluent_kafka.admin import AdminClient

from infra.broker import EmbeddedBroker, resolve_broker_binary, wait_for_metadata
from infra.exceptions import BrokerError
from infra.processes import process_alive, terminate_process
from infra.settings import LeakguardSettings
from infra.topics import ApplyReport, apply_topics, load_spec
from sinks.clickhouse.chdb_session import open_chdb_session

#: syslog level 4: librdkafka's informational lines (queue purges on close) are noise in a CLI.
LIBRDKAFKA_WARNING: Final = 4


@dataclass(frozen=True)
class StackState:
    """What ``stack up`` started, as recorded in ``stack.json``."""

    pid: int
    bootstrap_servers: str
    binary: str
    log_path: str
    started_at: float

    def is_running(self) -> bool:
        """Whether the recorded process is still our broker (guards against pid reuse)."""
        if not process_alive(self.pid):
            return False
        try:
            command = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            return False
        return command.decode(errors="replace") == self.binary


def read_state(settings: LeakguardSettings) -> StackState | None:
    """The recorded stack, or ``None`` when ``stack up`` never ran (or the file is unreadable)."""
    try:
        return StackState(**json.loads(settings.stack_state_path.read_text()))
    except (OSError, ValueError, TypeError):
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
    """What ``stack up`` did."""

    state: StackState
    already_running: bool
    topics: ApplyReport
    chdb_path: Path


def stack_up(settings: LeakguardSettings) -> StackUpResult:
    """Start the embedded broker (unless running), apply the topic spec, prepare chdb."""
    state = read_state(settings)
    already_running = state is not None and state.is_running()
    if state is None or not already_running:
        log_path = settings.data_dir / "broker.log"
        binary = resolve_broker_binary()
        broker = EmbeddedBroker(binary=binary, log_path=log_path, die_with_parent=False)
        endpoint = broker.start()
        state = StackState(
            pid=broker.pid,
            bootstrap_servers=endpoint.bootstrap_servers,
            binary=binary,
            log_path=str(log_path),
            started_at=time.time(),
        )
        settings.stack_state_path.parent.mkdir(parents=True, exist_ok=True)
        settings.stack_state_path.write_text(json.dumps(asdict(state), indent=2))
    report = apply_topics(admin_client(settings, state.bootstrap_servers), load_spec())
    open_chdb_session(settings.chdb_path).close()
    return StackUpResult(state, already_running, report, settings.chdb_path)


def stack_down(settings: LeakguardSettings) -> StackState | None:
    """Stop the broker ``stack up`` started; returns what was stopped, if anything."""
    state = read_state(settings)
    if state is None:
        return None
    if state.is_running():
        terminate_process(state.pid)
    settings.stack_state_path.unlink(missing_ok=True)
    return state


@dataclass(frozen=True)
class StackStatus:
    """Health of the recorded stack."""

    state: StackState | None
    process_running: bool
    broker_answers: bool
    topics: list[str]


def stack_status(settings: LeakguardSettings) -> StackStatus:
    """Whether the recorded broker runs and answers, and which spec topics exist on it."""
    state = read_state(settings)
    if state is None or not state.is_running():
        return StackStatus(state, False, False, [])
    try:
        wait_for_metadata(state.bootstrap_servers, timeout_s=5.0)
    except BrokerError:
        return StackStatus(state, True, False, [])
    metadata = admin_client(settings, state.bootstrap_servers).list_topics(timeout=5.0)
    names = set(load_spec().names)
    return StackStatus(state, True, True, sorted(names & set(metadata.topics)))
