"""The cloud worker's retention timer:
a real ``leakguard worker --role cloud`` deletes staged images past their retention and
leaves the younger ones."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from streams.frame_store import FrameStore
from tests.kafka_kit import StreamTopics
from tests.streams.conftest import Workers
from tests.streams.helpers import png

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_cloud_worker_sweeps_expired_frames_on_its_timer(
    stream_topics: StreamTopics, workers: Workers, tmp_path: Path
) -> None:
    store = FrameStore(str(tmp_path / "fs"))
    store.stage(png(16, 16, seed=1), checkpoint="cp", lane="1", frame_id="old")
    store.stage(png(16, 16, seed=2), checkpoint="cp", lane="1", frame_id="new")
    store.keep(checkpoint="cp", lane="1", frame_id="old")
    old = next((tmp_path / "fs" / "staging").rglob("old/*.png"))
    kept = next((tmp_path / "fs" / "kept").rglob("old.*.png"))
    two_hours_ago = time.time() - 7200
    for path in (old, kept):
        os.utime(path, (two_hours_ago, two_hours_ago))
    workers.start(
        "cloud",
        "--frame-store",
        str(tmp_path / "fs"),
        "--staging-retention-hours",
        "1",
        "--sweep-interval",
        "1",
    )
    deadline = time.monotonic() + 120
    while old.exists() and time.monotonic() < deadline:
        workers.check_alive()
        time.sleep(0.5)
    assert not old.exists(), workers.logs()
    assert kept.exists()  # kept images have their own, longer retention (90 days)
    assert next((tmp_path / "fs" / "staging").rglob("new/*.png")).exists()
