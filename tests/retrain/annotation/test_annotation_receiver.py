"""The bridge's receiver (real uvicorn on a free port), its shared secret and its SQLite
state."""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from retrain.annotation.exceptions import WebhookSecretError
from retrain.annotation.image_urls import ImageUrlSigner
from retrain.annotation.receiver import (
    MAX_WEBHOOK_BYTES,
    SECRET_HEADER,
    ReceiverServer,
    receiver_app,
)
from retrain.annotation.secret import create_secret_file, read_secret_file
from retrain.annotation.state import AnnotationVersion, BridgeState, CreatedTask
from tests.retrain.annotation.annotation_helpers import frame_images, kept_image

SECRET = "receiver-test-secret-0123456789abcdef"
SIGNER = ImageUrlSigner(SECRET)


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
    assert httpx.get(SIGNER.url(receiver, "unknown")[0]).status_code == 404
    state.record_task(CreatedTask("t1", 1, 10, link.uri, link.sha256))
    answer = httpx.get(SIGNER.url(receiver, "t1")[0])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert hashlib.sha256(answer.content).hexdigest() == link.sha256
    assert answer.content == data
    Path(link.uri).write_bytes(b"tampered")
    assert httpx.get(SIGNER.url(receiver, "t1")[0]).status_code == 404
    # A task's link comes from an event: one naming a file out of the frame store serves
    # nothing, even with the file's right hash.
    outside = tmp_path / "outside.png"
    outside.write_bytes(data)
    state.record_task(CreatedTask("t2", 1, 11, str(outside), link.sha256))
    refused = httpx.get(SIGNER.url(receiver, "t2")[0])
    assert refused.status_code == 404
    assert "outside the image roots" in refused.text


def test_images_need_a_signed_unexpired_url_and_refusals_do_not_tell_which_tasks_exist(
    receiver: str, state: BridgeState, tmp_path: Path
) -> None:
    link, data = kept_image(tmp_path / "frames", frame_id="f1", seed=4)
    state.record_task(CreatedTask("t1", 1, 10, link.uri, link.sha256))
    good = SIGNER.url(receiver, "t1")[0]
    query = urlsplit(good).query
    other_secret = ImageUrlSigner("another-bridge-secret-0123456789abcdef")
    week_s = 7 * 24 * 3600.0
    expired = ImageUrlSigner(SECRET, ttl_s=week_s, clock=lambda: time.time() - 2 * week_s)
    refused_urls = [
        f"{receiver}/images/t1",  # what every task had before images were signed
        f"{receiver}/images/t1?expires=99999999999",
        f"{receiver}/images/t1?{query.replace('token=', 'token=0')}",
        f"{receiver}/images/t1?{query}".replace("expires=", "expires=1"),  # a later expiry
        other_secret.url(receiver, "t1")[0],
        expired.url(receiver, "t1")[0],
        SIGNER.url(receiver, "t2")[0].replace("/t2?", "/t1?"),  # another task's token
    ]
    answers = [httpx.get(url) for url in refused_urls]
    assert [a.status_code for a in answers] == [403] * len(refused_urls)
    unknown = httpx.get(f"{receiver}/images/no-such-task?{query}")
    assert (unknown.status_code, unknown.text) == (403, answers[0].text)
    served = httpx.get(good)
    assert (served.status_code, served.content) == (200, data)


def test_receiver_is_not_built_without_a_usable_secret(state: BridgeState, tmp_path: Path) -> None:
    for secret in ("", " " * 40, "short-secret"):
        with pytest.raises(WebhookSecretError, match="shorter than 32 characters"):
            receiver_app(state=state, webhook_secret=secret, images=frame_images(tmp_path))


def _raw_post(port: int, head: list[str], chunks: list[bytes]) -> bytes:
    """Send a request's head and some body bytes, *without* finishing the body, and return
    what the server answers meanwhile (b"" if it waits for the rest)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall("\r\n".join([*head, "", ""]).encode())
        try:
            for chunk in chunks:
                conn.sendall(chunk)
        except OSError:
            pass  # the server answered and closed while the body still came
        try:
            return conn.recv(4096)
        except TimeoutError:
            return b""


def test_an_oversized_body_is_refused_before_it_is_read_whole(
    receiver: str, state: BridgeState
) -> None:
    port = int(urlsplit(receiver).port or 0)
    head = ["POST /webhook HTTP/1.1", "Host: bridge", f"{SECRET_HEADER}: {SECRET}"]
    # A Content-Length over the cap: refused before one byte of the body arrives.
    declared = _raw_post(port, [*head, f"Content-Length: {MAX_WEBHOOK_BYTES + 1}"], [])
    assert declared.startswith(b"HTTP/1.1 413")
    # A chunked body: refused once the chunks pass the cap, while more would still come.
    piece = 64 * 1024
    chunks = [f"{piece:x}\r\n".encode() + b"x" * piece + b"\r\n"] * (MAX_WEBHOOK_BYTES // piece + 2)
    streamed = _raw_post(port, [*head, "Transfer-Encoding: chunked"], chunks)
    assert streamed.startswith(b"HTTP/1.1 413")
    # Without the secret nothing is read at all.
    anonymous = _raw_post(port, [*head[:2], "Content-Length: 10"], [])
    assert anonymous.startswith(b"HTTP/1.1 401")
    assert state.counts().inbox == 0
    # A body just under the cap is still taken.
    body = json.dumps({"action": "ANNOTATION_CREATED", "pad": "x" * (MAX_WEBHOOK_BYTES - 100)})
    answer = httpx.post(
        f"{receiver}/webhook", content=body.encode(), headers={SECRET_HEADER: SECRET}
    )
    assert answer.status_code == 200
    assert state.counts().inbox == 1


def test_setup_creates_a_private_secret_once_and_the_bridge_reads_only_such(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "annotation" / "webhook.secret"
    with pytest.raises(WebhookSecretError, match="leakguard annotate setup"):
        read_secret_file(path)
    created = create_secret_file(path)
    assert len(created) == 64
    assert int(created, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert create_secret_file(path) == created  # a second setup keeps it
    assert read_secret_file(path) == created
    path.chmod(0o644)
    with pytest.raises(WebhookSecretError, match="chmod 600"):
        read_secret_file(path)
    path.chmod(0o600)
    path.write_text("too-short\n")
    with pytest.raises(WebhookSecretError, match="shorter than 32"):
        read_secret_file(path)


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


def test_image_urls_due_for_renewal_include_tasks_of_an_older_state_file(tmp_path: Path) -> None:
    path = tmp_path / "bridge.sqlite"
    old = sqlite3.connect(path)  # the tasks table as it was before image URLs expired
    old.execute(
        "CREATE TABLE tasks (task_id TEXT PRIMARY KEY, project_id INTEGER NOT NULL, "
        "ls_task_id INTEGER, image_uri TEXT NOT NULL, image_sha256 TEXT NOT NULL, "
        "created_at REAL NOT NULL)"
    )
    old.execute("INSERT INTO tasks VALUES ('old', 1, 5, '/x.png', ?, 0)", ("0" * 64,))
    old.commit()
    old.close()
    state = BridgeState(path=path)
    state.record_task(CreatedTask("new", 1, 6, "/y.png", "1" * 64))
    state.set_image_url_expiry("new", 2_000.0)
    state.record_task(CreatedTask("pending", 1, None, "/z.png", "2" * 64))  # not created yet
    assert state.tasks_with_image_urls_due(before=1_000.0, limit=10) == [("old", 5)]
    assert state.tasks_with_image_urls_due(before=3_000.0, limit=10) == [("old", 5), ("new", 6)]
    assert state.tasks_with_image_urls_due(before=3_000.0, limit=1) == [("old", 5)]
    state.set_image_url_expiry("old", 5_000.0)
    assert state.tasks_with_image_urls_due(before=3_000.0, limit=10) == [("new", 6)]
    state.close()
