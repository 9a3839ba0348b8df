"""``leakguard console serve`` as a real subprocess, for the browser test and the benchmark:
started with the contract's options, ready when it prints its address, stopped by SIGTERM."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

#: The ``leakguard`` console script of this virtualenv.
LEAKGUARD = str(Path(sys.executable).with_name("leakguard"))
READY_PREFIX = "console ready at "


class ConsoleProcess:
    """One console subprocess; its output is kept in ``lines`` (stdout and stderr)."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [LEAKGUARD, "console", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **env},
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._ready: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip())
            if line.startswith(READY_PREFIX):
                self._ready.put(line[len(READY_PREFIX) :].strip())

    def wait_ready(self, timeout_s: float) -> str:
        """The console's URL once it printed it; fails with its output if it died first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                return self._ready.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
        raise RuntimeError(f"console not ready; output:\n{self.output()}")

    def output(self) -> str:
        """Everything the console printed so far."""
        return "\n".join(self.lines)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, wait, return the exit status (SIGKILL after ``timeout_s``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout_s)
        return self.process.returncode
