"""The workers under fuzz, for real: an embedded broker with the spec's topics, the edge, the
cloud, the analytics sink into embedded chdb and alert delivery to a local endpoint, each a
``leakguard`` subprocess as an operator starts it, and the files hostile events point at.

The sink and alert delivery read the catalogue's topic names without a prefix, so the stack
runs on a broker of its own with unprefixed topics, not on a shared one.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Final

from bench.fuzz_cases import BOMB_PX, Targets
from bench.fuzz_events import bomb_png
from bench.streams_harness import random_model
from infra.broker import EmbeddedBroker
from infra.settings import ClickHouseSettings, SinkSettings
from schemas.topics import Topics
from sinks.alerts.delivery import IDEMPOTENCY_HEADER
from sinks.clickhouse.backend import ChdbBackend
from tests.kafka_kit import make_topics
from tests.sinks.http_helpers import serving
from tests.streams.helpers import png

__all__ = [
    "ALERTS_ID",
    "CLOUD_ID",
    "EDGE_ID",
    "SINK_GROUP",
    "SINK_ID",
    "AlertReceiver",
    "FuzzStack",
    "fuzz_model",
    "fuzz_stack",
    "sink_event_ids",
]

#: The ``leakguard`` console script of this virtualenv.
LEAKGUARD: Final = str(Path(sys.executable).with_name("leakguard"))
#: Names of the processes under fuzz, in start order.
WORKERS: Final = ("edge", "cloud", "sink", "alerts")
#: A clean stop (SIGTERM) commits offsets and closes chdb; longer means it hangs.
STOP_TIMEOUT_S: Final = 60.0
#: Worker ids on the dead letters the edge and the cloud write.
EDGE_ID: Final = "fuzz-edge"
CLOUD_ID: Final = "fuzz-cloud"
#: Database of the analytics tables and the sink's group (the settings' defaults).
DATABASE: Final = ClickHouseSettings().database
SINK_GROUP: Final = SinkSettings().group_id
#: Worker ids on the sink's and alert delivery's dead letters (their classes' defaults).
SINK_ID: Final = "clickhouse-sink"
ALERTS_ID: Final = "alert-delivery"


class AlertReceiver:
    """The control centre's endpoint: accepts every POST and remembers each alert id, and
    those whose body is not strict JSON (``NaN`` and ``Infinity`` are not JSON: a control
    centre with a strict parser would refuse them at every retry)."""

    def __init__(self) -> None:
        self._alert_ids: set[str] = set()
        self.not_json: set[str] = set()
        self._lock = threading.Lock()

    def delivered(self) -> set[str]:
        """The alert ids received so far (a copy: the server's threads add to the set)."""
        with self._lock:
            return set(self._alert_ids)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                alert_id = self.headers.get(IDEMPOTENCY_HEADER, "")
                with receiver._lock:
                    receiver._alert_ids.add(alert_id)
                    if not _strict_json(body):
                        receiver.not_json.add(alert_id)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: thousands of deliveries are expected."""

        return Handler


def _strict_json(body: bytes) -> bool:
    """Whether ``body`` parses as RFC 8259 JSON (Python's parser also takes NaN, Infinity)."""

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    try:
        json.loads(body, parse_constant=refuse)
    except ValueError:
        return False
    return True


@dataclass
class FuzzStack:
    """The broker, the topics, the targets on disk and the worker processes."""

    work: Path
    bootstrap: str
    names: Topics
    targets: Targets
    receiver: AlertReceiver
    endpoint: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)

    @property
    def data_dir(self) -> Path:
        return self.work / "data"

    def start(self, model: Path) -> None:
        """Every worker, with a clean environment (no ``LEAKGUARD_*`` of the caller's shell:
        no keyring, so forged events are judged on their content) and one torch thread."""
        store = str(self.targets.frame_store)
        commands = {
            "edge": [
                "worker",
                "--role",
                "edge",
                "--model",
                str(model),
                "--frame-store",
                store,
                "--claim-check-root",
                str(self.targets.claims),
                "--worker-id",
                EDGE_ID,
            ],
            "cloud": ["worker", "--role", "cloud", "--frame-store", store, "--worker-id", CLOUD_ID],
            "sink": ["analytics", "sink"],
            "alerts": ["alerts", "deliver"],
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEAKGUARD_")}
        env.update(
            LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS=self.bootstrap,
            LEAKGUARD_DATA_DIR=str(self.data_dir),
            LEAKGUARD_ALERTS__ENDPOINT_URL=self.endpoint,
            LEAKGUARD_ALERTS__HMAC_KEY=secrets.token_hex(32),
            OMP_NUM_THREADS="1",
        )
        loglevel = ["--loglevel", os.environ.get("BENCH_WORKER_LOGLEVEL", "warning")]
        for name in WORKERS:
            args = commands[name] + (loglevel if commands[name][0] == "worker" else [])
            log = (self.work / f"{name}.log").open("wb")
            self.processes[name] = subprocess.Popen(
                [LEAKGUARD, *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.work,
                start_new_session=True,
            )

    def exited(self) -> dict[str, int]:
        """Workers that ended without being stopped: name -> exit status."""
        return {
            name: code
            for name, process in self.processes.items()
            if name not in self.stopped and (code := process.poll()) is not None
        }

    def stop(self, name: str) -> int | None:
        """SIGTERM and wait (a clean stop flushes and commits); the exit status, or None
        when it had already exited by itself (a crash, reported by :meth:`exited`)."""
        process = self.processes[name]
        if process.poll() is not None:
            return None
        self.stopped.add(name)
        process.terminate()
        return process.wait(timeout=STOP_TIMEOUT_S)

    def kill_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def make_targets(work: Path) -> Targets:
    """The claim-check root and what hostile URIs name: a good PNG, a FIFO, links to
    ``/dev/zero``, ``/etc/passwd`` and out of the root, a look-alike sibling folder, and the
    secret PNG outside every root."""
    targets = Targets(
        claims=work / "claims",
        sibling=work / "claims-sibling",
        frame_store=work / "stores" / "frames",
        secret=work / "secret.png",
    )
    for folder in (targets.claims, targets.sibling, targets.frame_store):
        folder.mkdir(parents=True)
    targets.secret.write_bytes(png(24, 24, seed=99))
    targets.good.write_bytes(png(32, 32, seed=1))
    (targets.sibling / "good.png").write_bytes(targets.good.read_bytes())
    (targets.claims / "bomb.png").write_bytes(bomb_png(BOMB_PX, BOMB_PX))
    os.mkfifo(targets.claims / "fifo")
    (targets.claims / "zero").symlink_to("/dev/zero")
    (targets.claims / "passwd").symlink_to("/etc/passwd")
    (targets.claims / "secret.png").symlink_to(targets.secret)
    return targets


@contextmanager
def fuzz_stack(work: Path) -> Iterator[FuzzStack]:
    """A broker of its own with every topic of the spec, the targets and the alert endpoint;
    the workers (started by :meth:`FuzzStack.start`) are killed at the end."""
    receiver = AlertReceiver()
    with ExitStack() as stack:
        broker = stack.enter_context(EmbeddedBroker(log_path=work / "broker.log"))
        bootstrap = broker.endpoint.bootstrap_servers
        names = make_topics(bootstrap, "")
        endpoint = stack.enter_context(serving(receiver.handler())) + "/alerts"
        fuzz = FuzzStack(work, bootstrap, names, make_targets(work), receiver, endpoint)
        try:
            yield fuzz
        finally:
            fuzz.kill_all()


def fuzz_model(work: Path) -> Path:
    """The tests' tiny random model (three boxes an image, every image alarms)."""
    return random_model(work / "model", "tiny", detections_per_img=3)


def sink_event_ids(data_dir: Path, tables: list[str]) -> dict[str, set[str]]:
    """Event ids stored per analytics table, read from the sink's chdb once it has stopped
    (chdb allows one process at a time on its files)."""
    backend = ChdbBackend(database=DATABASE, path=data_dir / "chdb")
    try:
        return {
            table: {
                str(row[0]) for row in backend.query(f"SELECT DISTINCT event_id FROM {table}").rows
            }
            for table in tables
        }
    finally:
        backend.close()
