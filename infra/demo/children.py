"""The demo's child processes: each a ``leakguard`` command with its own log file.

``leakguard demo`` runs every part of the loop as the same command an operator would run
(``leakguard worker --role edge`` ...), so what the demo shows is what production runs.
Every child

- writes stdout and stderr to ``<log dir>/<name>.log`` (the terminal belongs to the summary);
- runs in its own session, so Ctrl-C reaches only the demo, which then stops the children in
  order (producers first, the broker last) instead of all at once;
- dies with the demo even when the demo is killed (``PR_SET_PDEATHSIG``, see
  :func:`infra.processes.die_with_parent`), so no run leaves orphans behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from infra.exceptions import DemoError
from infra.processes import (
    DEFAULT_STOP_TIMEOUT_S,
    ServiceProcess,
    die_with_parent,
    terminate_process,
)

#: Lines of a child's log shown when it dies: enough for a Python traceback's last frames.
LOG_TAIL_LINES: Final = 15
#: How often a ready line is looked for in a child's log.
_READY_POLL_S: Final = 0.2


@dataclass(frozen=True)
class ChildSpec:
    """One child: its name (also its log file's), its command line and when it stops.

    ``stop_stage``: children stop stage by stage, lowest first, so producers stop before the
    workers that drain them. ``ready_line``: text the child prints once it serves (``None``:
    it needs no waiting). ``start_alone``: the next child starts only once this one is ready.
    """

    name: str
    argv: tuple[str, ...]
    stop_stage: int
    ready_line: str | None = None
    start_alone: bool = False


class ChildProcess(ServiceProcess):
    """A running :class:`ChildSpec`, logging to ``<log_dir>/<name>.log``."""

    def __init__(self, spec: ChildSpec, *, log_dir: Path, env: Mapping[str, str]) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{spec.name}.log"
        self._env = dict(env)
        self._process: subprocess.Popen[bytes] | None = None
        #: Process id of the last start, kept after the stop (to prove the child is gone).
        self.last_pid = 0

    @property
    def pid(self) -> int:
        """Process id of the child."""
        if self._process is None:
            raise DemoError(f"{self.spec.name} is not running")
        return self._process.pid

    def start(self) -> None:
        """Start the child (from the thread that outlives it: the kernel's death signal
        follows the parent thread)."""
        if self._process is not None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                list(self.spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.last_pid = self._process.pid

    def exit_code(self) -> int | None:
        """The child's exit status, or ``None`` while it runs."""
        return None if self._process is None else self._process.poll()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the child's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"

    def died_error(self) -> DemoError:
        """The error that names this child, its exit status and its log's tail."""
        return DemoError(
            f"{self.spec.name} exited with status {self.exit_code()}; "
            f"last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def wait_ready(self, timeout_s: float) -> None:
        """Block until the child has printed its ready line (no-op without one)."""
        if self.spec.ready_line is None:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.exit_code() is not None:
                raise self.died_error()
            with contextlib.suppress(OSError):
                if self.spec.ready_line in self.log_path.read_text(errors="replace"):
                    return
            time.sleep(_READY_POLL_S)
        raise DemoError(
            f"{self.spec.name} did not print {self.spec.ready_line!r} within {timeout_s:.0f} s; "
            f"last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def signal_stop(self) -> None:
        """Ask the child to stop (SIGTERM) without waiting."""
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signal.SIGTERM)

    def stop(self, *, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """SIGTERM, wait ``timeout_s``, then SIGKILL; also kills what the child left in its
        session (its process group). Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        self.last_pid = process.pid
        terminate_process(process.pid, timeout_s=timeout_s, reap=process.wait)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


class ChildGroup:
    """Every child of one demo run: started in order, watched, stopped stage by stage."""

    def __init__(self, *, log_dir: Path, env: Mapping[str, str]) -> None:
        self._log_dir = log_dir
        self._env = env
        self.children: list[ChildProcess] = []

    def start(self, spec: ChildSpec) -> ChildProcess:
        """Start one child and keep it for :meth:`check` and :meth:`stop`."""
        child = ChildProcess(spec, log_dir=self._log_dir, env=self._env)
        self.children.append(child)
        child.start()
        return child

    def check(self) -> None:
        """Raise :class:`DemoError` naming the first running child that has exited."""
        for child in self.children:
            if child.exit_code() is not None:
                raise child.died_error()

    def pids(self) -> dict[str, int]:
        """Process id of every started child, by name (also after it stopped)."""
        return {child.spec.name: child.last_pid for child in self.children}

    def stop(
        self, *, below_stage: int | None = None, timeout_s: float = DEFAULT_STOP_TIMEOUT_S
    ) -> None:
        """Stop the children, stage by stage (only stages below ``below_stage`` when given);
        the children of one stage stop together."""
        stages = sorted({child.spec.stop_stage for child in self.children})
        for stage in stages if below_stage is None else [s for s in stages if s < below_stage]:
            batch = [child for child in self.children if child.spec.stop_stage == stage]
            for child in batch:
                child.signal_stop()
            for child in batch:
                child.stop(timeout_s=timeout_s)


def leakguard_argv(*args: str, python: str | None = None) -> tuple[str, ...]:
    """The command line of ``leakguard ARGS`` with this interpreter (no PATH lookup)."""
    return (python or sys.executable, "-m", "infra", *args)
