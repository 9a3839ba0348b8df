"""The operations endpoint as the commands wire it, in real processes on the real broker:
``alerts deliver`` (a consumer group: its lag and assignment) and ``scanner watch`` (a
producer: its folder and loop) answer /healthz with their checks and /metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.broker import EmbeddedBroker
from infra.processes import free_port
from tests.cli_kit import LEAKGUARD
from tests.kafka_kit import make_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: A command's start (imports, joining its group) on a loaded 2-core machine.
READY_TIMEOUT_S = 60.0


@pytest.fixture
def command(tmp_path: Path) -> Iterator[Any]:
    """Starts ``leakguard *args`` with ``env`` added; every process killed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"command-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [*LEAKGUARD, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
            cwd=tmp_path,
        )
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _ready(process: subprocess.Popen[bytes], port: int, log_dir: Path) -> dict[str, Any]:
    """The first 200 answer of /healthz; fails with the last answer and the logs."""
    last: Any = None
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as got:
                return dict(json.loads(got.read()))
        except urllib.error.HTTPError as error:
            last = json.loads(error.read())
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in log_dir.glob("*.log"))
    pytest.fail(f"not ready; last answer {last}\n{logs}")


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as got:
        return str(got.read().decode())


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[str]:
    """A broker of this test with the spec's topics unprefixed, as `alerts deliver` reads
    them (the session broker's unprefixed names belong to no test)."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        make_topics(broker.endpoint.bootstrap_servers, "")
        yield broker.endpoint.bootstrap_servers


def test_alert_delivery_is_ready_once_in_its_group_and_exports_the_groups_lag(
    own_broker: str, command: Any, unique_name: str, tmp_path: Path
) -> None:
    port = free_port()
    process = command(
        "alerts",
        "deliver",
        "--metrics-port",
        str(port),
        env={
            "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": own_broker,
            "LEAKGUARD_ALERTS__ENDPOINT_URL": f"http://127.0.0.1:{free_port()}/alerts",
            "LEAKGUARD_ALERTS__HMAC_KEY": "k" * 32,
            "LEAKGUARD_ALERTS__GROUP_ID": unique_name,
        },
    )
    health = _ready(process, port, tmp_path)
    assert set(health["checks"]) == {"loop", "assignment", "broker", "delivery_store"}
    assert health["checks"]["loop"]["kind"] == "live"
    # Measured every few seconds from the start: the group's series appear with the endpoint.
    deadline = time.monotonic() + READY_TIMEOUT_S
    while f'group="{unique_name}"' not in _metrics(port):
        assert time.monotonic() < deadline, _metrics(port)
        time.sleep(0.2)
    assert 'leakguard_consumer_lag{group="' in _metrics(port)


def test_folder_bridge_is_ready_with_its_folder_and_broker(
    command: Any, kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    port = free_port()
    process = command(
        "scanner",
        "watch",
        str(folder),
        "--checkpoint",
        "hq",
        "--topic-prefix",
        f"{unique_name}-",
        env={
            "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "LEAKGUARD_METRICS_PORT": str(port),
        },
    )
    health = _ready(process, port, tmp_path)
    assert set(health["checks"]) == {"loop", "broker", "folder"}
    assert health["checks"]["folder"]["detail"] == f"folder {folder} writable"
