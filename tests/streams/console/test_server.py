"""``run_console`` on the real broker: a crashed background thread stops the console with
the reason, instead of leaving a console that silently shows nothing."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from streams.console.exceptions import ConsoleError
from streams.console.server import ConsoleConfig, run_console
from tests.kafka_kit import StreamTopics

pytestmark = pytest.mark.integration


def test_a_crashed_sink_stops_the_console_with_the_reason(
    stream_topics: StreamTopics, tmp_path: Path
) -> None:
    def broken_sink(stop: threading.Event) -> None:
        raise RuntimeError("disk full")

    config = ConsoleConfig(
        checkpoint="hq",
        bootstrap_servers=stream_topics.bootstrap,
        topics=stream_topics.names,
        state_dir=tmp_path / "console",
        guards_file=tmp_path / "guards.json",
        port=0,
    )
    with pytest.raises(ConsoleError, match="sink thread crashed: RuntimeError: disk full"):
        run_console(config, sink=broken_sink)
    # The queue was closed and the database is whole: a restart can open it again.
    assert (tmp_path / "console" / "queue-hq.sqlite").exists()


def test_a_taken_port_is_a_clear_error(stream_topics: StreamTopics, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = ConsoleConfig(
            checkpoint="hq",
            bootstrap_servers=stream_topics.bootstrap,
            topics=stream_topics.names,
            state_dir=tmp_path / "console",
            guards_file=tmp_path / "guards.json",
            port=port,
        )
        with pytest.raises(ConsoleError, match=f"cannot serve on 127.0.0.1:{port}"):
            run_console(config)
