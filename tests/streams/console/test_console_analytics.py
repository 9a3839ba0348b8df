"""Embedded chdb across processes: a second process cannot open the chdb
directory a running process holds, so with embedded analytics the console runs the sink
itself and its overview shows what that sink wrote."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemas import Codec
from schemas.topics import Topics
from streams.console.accounts import default_guards_path, ensure_guard
from tests.kafka_kit import make_topics, publish
from tests.streams.console.helpers import two_alarms
from tests.streams.console.processes import LEAKGUARD, ConsoleProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = "overview-pass"


@pytest.fixture
def console_with_sink(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A console on the spec's own topics with embedded chdb (so the sink runs inside)."""
    make_topics(kafka_bootstrap, "")
    data_dir = tmp_path / "data"
    ensure_guard(default_guards_path(data_dir), "manager", PASSWORD)
    env = {
        "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LEAKGUARD_DATA_DIR": str(data_dir),
        # Its own group: the shared broker's topics are read from the start, whatever
        # another test's sink committed.
        "LEAKGUARD_SINK__GROUP_ID": f"sink-{uuid.uuid4().hex[:8]}",
        "LEAKGUARD_SINK__FLUSH_INTERVAL_S": "0.5",
    }
    console = ConsoleProcess("--checkpoint", "hq", "--port", "0", env=env)
    try:
        yield console.wait_ready(timeout_s=180), env
    finally:
        status = console.stop()
    assert status == 0, f"console did not stop cleanly ({status}):\n{console.output()}"


def _signed_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    form = client.get("/login").text
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post(
        "/login", data={"guard": "manager", "password": PASSWORD, "lane": "1", "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text
    return client


def test_the_overview_shows_what_the_console_s_own_sink_wrote(
    console_with_sink: tuple[str, dict[str, str]], kafka_bootstrap: str
) -> None:
    url, env = console_with_sink
    checkpoint = f"cp-{uuid.uuid4().hex[:8]}"
    events = [two_alarms(f"f{index}", checkpoint=checkpoint) for index in range(3)]
    publish(
        kafka_bootstrap,
        [(Topics().detections, e.frame_id.encode(), Codec().encode(e)) for e in events],
    )

    client = _signed_in(url)
    deadline = time.monotonic() + 90
    frames = 0
    while time.monotonic() < deadline and frames < 3:
        body = client.get("/api/overview").json()
        throughput = next(p for p in body["panels"] if p["title"] == "Checkpoint throughput")
        assert throughput["error"] is None
        frames = sum(row[2] for row in throughput["rows"] if row[1] == checkpoint)
        time.sleep(1)
    assert frames == 3

    # Another process cannot open the chdb the console holds: chdb is in-process.
    other = subprocess.run(
        [LEAKGUARD, "analytics", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode != 0
    assert "lock" in (other.stdout + other.stderr).lower()
