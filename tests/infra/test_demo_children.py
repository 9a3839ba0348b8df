"""The demo's child processes: a dead child is named with its log, a stubborn one killed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from infra.demo.children import ChildGroup, ChildSpec
from infra.exceptions import DemoError
from infra.processes import process_alive


def _python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def test_dead_child_is_named_with_its_log(tmp_path: Path) -> None:
    group = ChildGroup(log_dir=tmp_path, env=dict(os.environ))
    code = "import sys; print('model is broken'); sys.exit(3)"
    child = group.start(ChildSpec("edge-9", _python(code), 0, ready_line="never printed"))
    with pytest.raises(DemoError, match=r"(?s)edge-9 exited with status 3.*model is broken"):
        child.wait_ready(30)
    with pytest.raises(DemoError, match="edge-9"):
        group.check()
    group.stop()


def test_ready_line_and_stubborn_child_is_killed(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('serving now', flush=True); time.sleep(600)"
    )
    group = ChildGroup(log_dir=tmp_path, env=dict(os.environ))
    child = group.start(ChildSpec("console-x", _python(code), 0, ready_line="serving now"))
    child.wait_ready(30)
    pid = child.pid
    group.stop(timeout_s=1.0)  # SIGTERM is ignored: killed after the timeout
    assert not process_alive(pid)
    assert group.pids() == {"console-x": pid}
