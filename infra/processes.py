"""Child processes of the local stack: free ports, liveness, orderly shutdown.

The embedded broker, its S3 storage, ZooKeeper, the test ClickHouse servers and Label
Studio are child processes that must never outlive their owner; the helpers here, and the
:class:`ServiceProcess` base they share, are how each starts, waits and stops cleanly.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Final, Self

LOOPBACK: Final = "127.0.0.1"
#: Time a child gets to exit on SIGTERM before it is killed.
DEFAULT_STOP_TIMEOUT_S: Final = 5.0
#: Linux prctl option asking the kernel to signal the child when its parent dies.
_PR_SET_PDEATHSIG: Final = 1
#: Ports tried by :meth:`ServiceProcess._start_on_free_port`.
_START_ATTEMPTS: Final = 3


def die_with_parent() -> None:
    """``preexec_fn`` of a child that must not outlive us: SIGTERM when the parent dies.

    The kernel signals on the death of the parent *thread*, so start such children from a
    thread that lives as long as they should.
    """
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: how a long-running command stops in order (its
    loop finishes the batch in hand and commits) instead of dying mid-batch."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, frame: stop.set())
    return stop


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def terminate_process(
    pid: int,
    *,
    timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
    reap: Callable[[float], object] | None = None,
) -> None:
    """SIGTERM ``pid``, wait up to ``timeout_s`` for it to exit, then SIGKILL it.

    ``reap`` (``Popen.wait``) collects our own child so no zombie stays behind; a process we
    did not start (``stack down``) is polled instead.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if reap is not None:
        try:
            reap(timeout_s)
            return
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            reap(timeout_s)
            return
    deadline = time.monotonic() + timeout_s
    while process_alive(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    tied_to_parent: bool = True,
) -> subprocess.Popen[bytes]:
    """Start a service's child process: no input, its output appended to ``log_path``
    (discarded without one), ``env`` over our environment, and a session of its own, so a
    Ctrl-C in the terminal reaches us and we stop it in order rather than both at once.
    ``tied_to_parent``: it gets SIGTERM when we die (:func:`die_with_parent`); off for a
    service that outlives its command (``leakguard stack up``)."""
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    with (log_path or Path(os.devnull)).open("ab") as log:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if tied_to_parent else None,
        )


def stop_child(
    process: subprocess.Popen[bytes] | None, *, timeout_s: float = DEFAULT_STOP_TIMEOUT_S
) -> None:
    """:func:`terminate_process` for a child we started (reaped, no zombie); None: nothing
    to stop."""
    if process is not None:
        terminate_process(process.pid, timeout_s=timeout_s, reap=process.wait)


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state is the field after the parenthesised command name; Z marks a zombie.
    return status.rsplit(")", 1)[1].split()[0] != "Z"


class ServiceProcess(ABC):
    """Base of a local service run as a child process: ``with`` starts it and stops it.

    The base owns the child: it starts it (:meth:`_spawn`), waits until it answers
    (:meth:`_wait_until_ready`), retries on another port when a free one was taken
    (:meth:`_start_on_free_port`) and stops it, so every service fails the same way: with
    its own error type (``_error``), naming itself (``_name``), what went wrong and where
    its log is.
    """

    #: How errors name the service.
    _name: ClassVar[str] = "the service"
    #: The exception its callers catch.
    _error: ClassVar[type[Exception]] = RuntimeError
    #: Time it gets to exit on SIGTERM before it is killed.
    _stop_timeout_s: ClassVar[float] = DEFAULT_STOP_TIMEOUT_S
    _process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def start(self) -> Any:
        """Start the service and wait until it answers."""

    @property
    def pid(self) -> int:
        """Process id of the running service."""
        if self._process is None:
            raise self._error(f"{self._name} is not running")
        return self._process.pid

    def stop(self) -> None:
        """Stop the service (SIGTERM, then SIGKILL); idempotent."""
        process, self._process = self._process, None
        stop_child(process, timeout_s=self._stop_timeout_s)

    def _spawn(self, argv: Sequence[str], **options: Any) -> None:
        """Start the child (:func:`spawn`'s options)."""
        self._process = spawn(argv, **options)

    def _wait_until_ready(
        self,
        answers: Callable[[], bool],
        *,
        timeout_s: float,
        log_hint: str | Callable[[], str],
        poll_s: float = 0.2,
        retry_on: tuple[type[Exception], ...] = (),
    ) -> None:
        """Poll ``answers`` until it says yes. A child that exits first, or time running
        out, stops the service and raises its error with the exit code or the last error
        ``answers`` raised (of ``retry_on``), and ``log_hint`` (called then, when it is a
        function: a log's last lines)."""
        process = self._process
        if process is None:
            raise self._error(f"{self._name} is not running")
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if answers():
                    return
            except retry_on as exc:
                last_error = exc
            time.sleep(poll_s)
        code = process.poll()
        self.stop()
        hint = log_hint if isinstance(log_hint, str) else log_hint()
        if code is not None:
            reason = f"exited with code {code}"
        else:
            reason = f"did not answer within {timeout_s:.0f} s"
            if last_error is not None:
                reason += f" ({last_error})"
        raise self._error(f"{self._name} {reason}; {hint}")

    def _start_on_free_port(
        self, launch: Callable[[int], None], *, host: str, port: int | None
    ) -> None:
        """``launch`` on ``port``, or on a free port with up to three tries: another process
        can take a probed port before the child binds it."""
        attempts = 1 if port is not None else _START_ATTEMPTS
        for attempt in range(1, attempts + 1):
            try:
                launch(port or free_port(host))
                return
            except self._error:
                self.stop()
                if attempt == attempts:
                    raise

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
