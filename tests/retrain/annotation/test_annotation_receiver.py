"""The bridge's receiver (real uvicorn on a free port) and its SQLite state."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from retrain.annotation.receiver import SECRET_HEADER, ReceiverServer, receiver_app
from retrain.annotation.state import AnnotationVersion, BridgeState, CreatedTask
from tests.retrain.annotation.annotation_helpers import frame_images, kept_image

SECRET = "s3cret"


@pytest.fixture
def state(tmp_path: Path) -> Iterator[BridgeState]:
    opened = BridgeState(path=tmp_path / "state" / "bridge.sqlite")
    yield opened
    opened.close()


@pytest.fixture
def receiver(state: BridgeState, tmp_path: Path) -> Iterator[str]:
    server = ReceiverServer(
        receiver_app(state=state, webhook_secret=SECRET, images=frame_images(tmp_path)),
        host="127.0.0.1",
        port=0,
    )
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def test_webhook_needs_the_secret_and_json_and_is_stored(receiver: str, state: BridgeState) -> None:
    body = json.dumps({"action": "ANNOTATION_CREATED", "annotation": {"id": 1}}).encode()
    assert httpx.post(f"{receiver}/webhook", content=body).status_code == 401
    wrong = {SECRET_HEADER: "nope"}
    assert httpx.post(f"{receiver}/webhook", content=body, headers=wrong).status_code == 401
    good = {SECRET_HEADER: SECRET}
    assert httpx.post(f"{receiver}/webhook", content=b"{oops", headers=good).status_code == 400
    assert httpx.post(f"{receiver}/webhook", content=b"[1]", headers=good).status_code == 400
    assert state.webhooks(limit=10) == []
    assert httpx.post(f"{receiver}/webhook", content=body, headers=good).status_code == 200
    [(inbox_id, stored)] = state.webhooks(limit=10)
    assert stored == body
    state.drop_webhook(inbox_id)
    assert state.counts().inbox == 0


def test_images_are_served_only_for_known_tasks_and_verified(
    receiver: str, state: BridgeState, tmp_path: Path
) -> None:
    link, data = kept_image(tmp_path / "frames", frame_id="f/1", seed=3)
    assert httpx.get(f"{receiver}/images/unknown").status_code == 404
    state.record_task(CreatedTask("t1", 1, 10, link.uri, link.sha256))
    answer = httpx.get(f"{receiver}/images/t1")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert hashlib.sha256(answer.content).hexdigest() == link.sha256
    assert answer.content == data
    Path(link.uri).write_bytes(b"tampered")
    assert httpx.get(f"{receiver}/images/t1").status_code == 404
    # A task's link comes from an event: one naming a file out of the frame store serves
    # nothing, even with the file's right hash.
    outside = tmp_path / "outside.png"
    outside.write_bytes(data)
    state.record_task(CreatedTask("t2", 1, 11, str(outside), link.sha256))
    refused = httpx.get(f"{receiver}/images/t2")
    assert refused.status_code == 404
    assert "outside the image roots" in refused.text


def test_state_remembers_versions_and_tasks_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "bridge.sqlite"
    state = BridgeState(path=path)
    version = AnnotationVersion(project_id=1, ls_annotation_id=7, updated_at="2026-01-01T00:00:00Z")
    assert not state.seen(version)
    state.record_version(version, state="emitted", annotation_id="a")
    state.record_version(version, state="emitted", annotation_id="b")  # a re-delivery
    state.record_task(CreatedTask("t1", 1, None, "/x.png", "0" * 64))  # being created
    assert state.counts().tasks == 0
    state.record_task(CreatedTask("t1", 1, 10, "/x.png", "0" * 64))  # created
    state.record_task(CreatedTask("t1", 1, 11, "/x.png", "0" * 64))  # a duplicate: ignored
    state.put("poll_cursor", "2026-01-01T00:00:00+00:00")
    state.close()
    reopened = BridgeState(path=path)
    assert reopened.seen(version)
    later = AnnotationVersion(project_id=1, ls_annotation_id=7, updated_at="2026-01-02T00:00:00Z")
    assert not reopened.seen(later)
    assert reopened.task("t1") == CreatedTask("t1", 1, 10, "/x.png", "0" * 64)
    assert reopened.get("poll_cursor") == "2026-01-01T00:00:00+00:00"
    counts = reopened.counts()
    assert (counts.tasks, counts.emitted, counts.rejected, counts.inbox) == (1, 1, 0, 0)
    reopened.close()
