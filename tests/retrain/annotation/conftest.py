"""Fixtures of the annotation tests: one real Label Studio per session, a bridge per test.

Label Studio comes from its own virtualenv (``scripts/install_label_studio.sh``, run by the
test gate). Without it the Label Studio tests skip on a developer machine, but fail under
``CI=true``: the acceptance tests must never silently not run in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.label_studio import LABEL_STUDIO_BIN, LocalLabelStudio
from infra.processes import process_alive
from retrain.annotation.auto_label import AutoLabelPolicy
from retrain.annotation.bridge import AnnotationBridge, LabelStudioTarget
from retrain.annotation.client import LabelStudioClient
from retrain.annotation.image_urls import ImageUrlSigner
from retrain.annotation.project import ensure_project, ensure_webhook
from retrain.annotation.receiver import ReceiverServer, receiver_app
from retrain.annotation.state import BridgeState
from schemas.authenticity import EventKeyring
from schemas.topics import Topics
from tests.kafka_kit import group_consumer, make_producer
from tests.retrain.annotation.annotation_helpers import bridge_topics, frame_images

WEBHOOK_SECRET = "test-webhook-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLabelStudio]:
    """A real Label Studio for the session (about a minute to start)."""
    if not LABEL_STUDIO_BIN.exists():
        message = (
            f"Label Studio is not installed ({LABEL_STUDIO_BIN}); "
            "run scripts/install_label_studio.sh"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with LocalLabelStudio(root=tmp_path_factory.mktemp("label-studio")) as server:
        pid = server.pid
        yield server
    if pid is not None and process_alive(pid):
        pytest.fail(f"Label Studio (pid {pid}) is still running after its fixture stopped it")


@pytest.fixture
def ls_client(label_studio: LocalLabelStudio) -> Iterator[LabelStudioClient]:
    client = LabelStudioClient(url=label_studio.url, token=label_studio.token)
    yield client
    client.close()


@dataclass
class BridgeRig:
    """One test's bridge: its topics, state, receiver and Label Studio project."""

    bootstrap: str
    topics: Topics
    state: BridgeState
    receiver_url: str
    project_id: int | None
    unique: str
    tmp_path: Path

    @property
    def group(self) -> str:
        """The consumer group of the rig's bridges."""
        return f"{self.unique}-bridge"

    def bridge(
        self,
        *,
        policy: AutoLabelPolicy,
        client: LabelStudioClient | None,
        poll_interval_s: float = 300.0,
        keyring: EventKeyring | None = None,
    ) -> AnnotationBridge:
        target = None
        if client is not None and self.project_id is not None:
            target = LabelStudioTarget(
                client=client,
                project_id=self.project_id,
                bridge_url=self.receiver_url,
                tool_version="label-studio test",
                image_urls=ImageUrlSigner(WEBHOOK_SECRET),
            )
        return AnnotationBridge(
            consumer=group_consumer(self.bootstrap, self.group),
            producer=make_producer(self.bootstrap),
            topics=self.topics,
            state=self.state,
            policy=policy,
            label_studio=target,
            images=frame_images(self.tmp_path),
            poll_interval_s=poll_interval_s,
            retry_initial_s=0.5,
            retry_max_s=2.0,
            keyring=keyring,
        )


@contextmanager
def _rig(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path, project_id: int | None
) -> Iterator[tuple[BridgeRig, ReceiverServer]]:
    state = BridgeState(path=tmp_path / "bridge.sqlite")
    receiver = ReceiverServer(
        receiver_app(state=state, webhook_secret=WEBHOOK_SECRET, images=frame_images(tmp_path)),
        host="127.0.0.1",
        port=0,
    )
    receiver.start()
    try:
        rig = BridgeRig(
            bootstrap=kafka_bootstrap,
            topics=bridge_topics(kafka_bootstrap, unique_name),
            state=state,
            receiver_url=f"http://127.0.0.1:{receiver.port}",
            project_id=project_id,
            unique=unique_name,
            tmp_path=tmp_path,
        )
        yield rig, receiver
    finally:
        receiver.stop()
        state.close()


@pytest.fixture
def rig(
    kafka_bootstrap: str,
    unique_name: str,
    tmp_path: Path,
    ls_client: LabelStudioClient,
) -> Iterator[BridgeRig]:
    """Topics, state, receiver, and a fresh Label Studio project whose webhook reaches it."""
    project = ensure_project(ls_client, title=f"leakguard {unique_name}")
    with _rig(kafka_bootstrap, unique_name, tmp_path, project.project_id) as (made, receiver):
        ensure_webhook(
            ls_client,
            project_id=project.project_id,
            bridge_url=made.receiver_url,
            secret=WEBHOOK_SECRET,
        )
        assert receiver.port > 0
        yield made


@pytest.fixture
def kafka_rig(kafka_bootstrap: str, unique_name: str, tmp_path: Path) -> Iterator[BridgeRig]:
    """Topics, state and receiver without Label Studio (auto-label mode)."""
    with _rig(kafka_bootstrap, unique_name, tmp_path, None) as (made, _):
        yield made
