"""Fixtures shared by every test package: real services, started for real.

- ``kafka_broker``: the embedded Tansu broker (session-scoped), the same code as the demo.
- ``kafka_bootstrap``: its ``host:port``.
- ``stream_topics``: every topic of the spec under a prefix of this test's own
  (:class:`tests.kafka_kit.StreamTopics`).
- ``clickhouse_server``: Debian's ``clickhouse-server`` on free ports (session-scoped).
- ``chdb_session``: an embedded chdb session in a temporary directory.
- ``tiny_artifact``: a random ``tiny`` RetinaNet artifact that alarms on every frame.

Environment variables with the ``LEAKGUARD_`` prefix are cleared for every test so that a
developer's own configuration never leaks into a result.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.broker import EmbeddedBroker
from infra.clickhouse_server import LocalClickHouseServer
from infra.processes import process_alive
from sinks.clickhouse.chdb_session import open_chdb_session
from tests.kafka_kit import StreamTopics


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LEAKGUARD_* variable from the caller's shell, and a private data dir."""
    for name in list(os.environ):
        if name.startswith("LEAKGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEAKGUARD_DATA_DIR", str(tmp_path / "leakguard-data"))


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One embedded broker for the whole test session; its teardown proves no process is left."""
    log_path = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_path=log_path) as broker:
        pid = broker.pid
        yield broker
    _assert_gone(pid, "embedded broker")


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: EmbeddedBroker) -> str:
    """``bootstrap.servers`` of the session broker."""
    return kafka_broker.endpoint.bootstrap_servers


@pytest.fixture
def unique_name() -> str:
    """A name no other test uses: topics and groups on the shared broker never collide."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def stream_topics(kafka_bootstrap: str, unique_name: str) -> Iterator[StreamTopics]:
    """Every topic of the spec, created under a prefix no other test uses. The test's
    producers are closed at its end, so none is left to log "Connect failed" when the
    session broker stops."""
    topics = StreamTopics.create(kafka_bootstrap, f"{unique_name}-")
    try:
        yield topics
    finally:
        topics.close()


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClickHouseServer]:
    """A real ClickHouse server for the whole session (Debian's clickhouse-server)."""
    with LocalClickHouseServer(root=tmp_path_factory.mktemp("clickhouse")) as server:
        pid = server.pid
        yield server
    _assert_gone(pid, "clickhouse-server")


def _assert_gone(pid: int | None, what: str) -> None:
    """Fail the session's teardown when a service process outlived its fixture."""
    if pid is not None and process_alive(pid):
        pytest.fail(f"{what} (pid {pid}) is still running after its fixture stopped it")


@pytest.fixture
def chdb_session(tmp_path: Path) -> Iterator[Any]:
    """An embedded chdb session whose files live in this test's temporary directory."""
    session = open_chdb_session(tmp_path / "chdb")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random ``tiny`` RetinaNet whose biases make it emit (alarming) boxes."""
    import torch

    from detector.artifacts import save_artifact
    from detector.model import MODEL_NUM_CLASSES, build_retinanet, get_preset

    torch.manual_seed(0)
    # Three boxes per image keep post-processing cheap on a busy 2-core machine.
    preset = dataclasses.replace(get_preset("tiny"), detections_per_img=3)
    model = build_retinanet(preset)
    bias = model.head.classification_head.cls_logits.bias.data
    bias[3::MODEL_NUM_CLASSES] = 2.0  # phones everywhere: every frame alarms
    path = tmp_path_factory.mktemp("model") / "tiny"
    save_artifact(path, model=model, preset=preset, version="tiny-test")
    return path
