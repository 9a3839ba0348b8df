"""Fixtures for the streams tests: real worker subprocesses on the session broker, always
killed at the end. Topics (``stream_topics``) and Kafka plumbing come from tests/conftest.py
and tests/kafka_kit.py; the tiny model artifact is shared with the demo's tests, in
tests/conftest.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kafka_kit import StreamTopics

#: Where the ``leakguard`` console script of this virtualenv lives.
LEAKGUARD = str(Path(sys.executable).with_name("leakguard"))


class Workers:
    """Starts ``leakguard worker`` subprocesses and kills every one of them at the end."""

    def __init__(self, topics: StreamTopics, log_dir: Path) -> None:
        self._topics = topics
        self._log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self._started = 0

    def start(
        self, role: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """``leakguard worker --role role *args``; ``env`` adds to its environment."""
        env = {
            **os.environ,
            "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": self._topics.bootstrap,
            # One torch thread: intra-op threads thrash on a shared 2-core machine.
            "OMP_NUM_THREADS": "1",
            **(env or {}),
        }
        log = (self._log_dir / f"{role}-{self._started}.log").open("wb")
        self._started += 1
        process = subprocess.Popen(
            [
                LEAKGUARD,
                "worker",
                "--role",
                role,
                "--topic-prefix",
                self._topics.prefix,
                "--loglevel",
                os.environ.get("LEAKGUARD_TEST_WORKER_LOGLEVEL", "warning"),
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=self._log_dir.parent,  # Faust's <app id>-data folder: not in the repository
        )
        self.processes.append(process)
        return process

    def check_alive(self) -> None:
        """Fail at once, with the logs, if a worker died (instead of waiting for output)."""
        dead = [p for p in self.processes if p.poll() is not None]
        if dead:
            pytest.fail(f"worker exited with {dead[0].returncode}:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self._log_dir.glob("*.log"))

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture
def workers(stream_topics: StreamTopics, tmp_path: Path) -> Iterator[Workers]:
    """Worker subprocesses for this test; all killed (whole process group) afterwards."""
    log_dir = tmp_path / "worker-logs"
    log_dir.mkdir()
    started = Workers(stream_topics, log_dir)
    try:
        yield started
    finally:
        started.kill_all()
