"""The child-process base every local service shares: how it fails, retries and stops.

Each service (broker, S3 server, ZooKeeper, ClickHouse, Label Studio) relies on these
rules to never leave a child behind after a failed start and to say why it failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from infra.processes import ServiceProcess, process_alive


class _ProbeError(Exception):
    """What the test service raises."""


class _Sleeper(ServiceProcess):
    """A Python child that exits with ``exit_code`` after ``lifetime_s``; it "answers" when
    ``answers`` says so."""

    _name = "the sleeper"
    _error = _ProbeError

    def __init__(self, *, lifetime_s: float, exit_code: int = 0, answers: bool = False) -> None:
        self._lifetime_s = lifetime_s
        self._exit_code = exit_code
        self._answers = answers
        self.ports: list[int] = []
        self.pids: list[int] = []

    def start(self) -> None:
        self._start_on_free_port(self._launch, host="127.0.0.1", port=None)

    def _launch(self, port: int) -> None:
        self.ports.append(port)
        code = f"import sys, time; time.sleep({self._lifetime_s}); sys.exit({self._exit_code})"
        self._spawn([sys.executable, "-c", code])
        self.pids.append(self.pid)
        self._wait_until_ready(
            self._probe, timeout_s=1.0, log_hint="see nowhere", poll_s=0.05, retry_on=(OSError,)
        )

    def _probe(self) -> bool:
        if not self._answers:
            raise OSError("connection refused")
        return True


def test_a_child_that_answers_is_running_until_stopped() -> None:
    with _Sleeper(lifetime_s=30, answers=True) as service:
        pid = service.pid
        assert process_alive(pid)
    assert not process_alive(pid)
    with pytest.raises(_ProbeError, match="the sleeper is not running"):
        _ = service.pid


def test_a_child_that_exits_fails_with_its_code_after_three_ports() -> None:
    service = _Sleeper(lifetime_s=0, exit_code=3)
    with pytest.raises(_ProbeError, match=r"the sleeper exited with code 3; see nowhere"):
        service.start()
    assert len(service.ports) == 3
    assert not any(process_alive(pid) for pid in service.pids)


def test_a_silent_child_is_stopped_and_its_last_error_reported() -> None:
    service = _Sleeper(lifetime_s=30)
    with pytest.raises(
        _ProbeError, match=r"did not answer within 1 s \(connection refused\); see nowhere"
    ):
        service.start()
    assert not any(process_alive(pid) for pid in service.pids)
    service.stop()  # idempotent after a failed start


def test_the_log_hint_is_read_when_the_start_fails(tmp_path: Path) -> None:
    log = tmp_path / "child.log"

    class _Logged(_Sleeper):
        def _launch(self, port: int) -> None:
            log.write_text(f"bind failed on {port}\n")
            self._spawn([sys.executable, "-c", "raise SystemExit(1)"])
            self._wait_until_ready(
                lambda: False, timeout_s=1.0, log_hint=lambda: log.read_text().strip()
            )

    service = _Logged(lifetime_s=0)
    with pytest.raises(_ProbeError, match=r"exited with code 1; bind failed on \d+"):
        service.start()
