"""chdb's disk fills up in the middle of a run: the sink waits, commits and dead-letters
nothing meanwhile, and writes every row once the disk has room again.

The disk is a small tmpfs mounted for the test (a real ENOSPC, not a fake error), so the
test needs the right to mount; it is skipped where that is missing.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sinks.clickhouse.backend import ChdbBackend
from sinks.clickhouse.batching import Backoff, BatchingSink
from sinks.clickhouse.chdb_session import open_chdb_session
from sinks.clickhouse.migrations import apply_migrations
from tests.kafka_kit import publish, uncommitted
from tests.sinks.kafka_helpers import (
    analytics_topics,
    encoded,
    expected_rows,
    final_counts,
    make_worker,
    stored_topics,
)
from tests.sinks.samples import sample_events

#: Room for chdb's tables of a few hundred frames, small enough to fill in a moment.
DISK_BYTES = 48 * 2**20
FRAMES = 400
#: How long the disk stays full while events keep arriving: several back-off rounds.
FULL_S = 8.0
DEADLINE_S = 90.0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of ``DISK_BYTES`` mounted under ``tmp_path``, unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount_point)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path) -> Path:
    """Write a file until ``disk`` has no room left; returns it (delete it to free the disk)."""
    filler = disk / "filler"
    chunk = b"\0" * 2**16
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError:
            pass
    return filler


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.integration
@pytest.mark.slow
def test_a_full_disk_is_waited_out_like_an_outage(
    small_disk: Path, kafka_bootstrap: str, unique_name: str
) -> None:
    session = open_chdb_session(small_disk / "chdb")
    stop = threading.Event()
    worker_thread: threading.Thread | None = None
    try:
        backend = ChdbBackend(database="leakguard", session=session)
        apply_migrations(backend)
        topics = analytics_topics(kafka_bootstrap, unique_name)
        events = list(sample_events(frames=FRAMES))
        half = len(events) // 2
        publish(kafka_bootstrap, encoded(topics, events[:half]))
        sink = BatchingSink(
            backend=backend, flush_interval_s=0.5, backoff=Backoff(initial_s=0.2, max_s=1.0)
        )
        worker = make_worker(kafka_bootstrap, topics, unique_name, sink)
        worker_thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        worker_thread.start()
        first = expected_rows(events[:half])
        assert _wait_for(lambda: final_counts(backend) == first, DEADLINE_S)
        assert _wait_for(
            lambda: uncommitted(kafka_bootstrap, unique_name, stored_topics(topics)) == [],
            DEADLINE_S,
        )

        filler = _fill(small_disk)
        publish(kafka_bootstrap, encoded(topics, events[half:]))
        time.sleep(FULL_S)  # the disk stays full while the second half arrives
        retries = worker.registry.get_sample_value("leakguard_sink_insert_retries_total")
        assert retries is not None
        assert retries > 0
        assert uncommitted(kafka_bootstrap, unique_name, stored_topics(topics)) != []
        filler.unlink()

        expected = expected_rows(events)
        assert _wait_for(lambda: final_counts(backend) == expected, DEADLINE_S)
        assert _wait_for(
            lambda: uncommitted(kafka_bootstrap, unique_name, stored_topics(topics)) == [],
            DEADLINE_S,
        )
        stop.set()
        worker_thread.join(timeout=30)
        # Nothing was taken for a bad row: the sink's only dead letters would be stored too.
        assert worker.registry.get_sample_value("leakguard_sink_dead_letters_total") == 0
        assert final_counts(backend) == expected
    finally:
        stop.set()
        if worker_thread is not None:
            worker_thread.join(timeout=30)
        session.close()
