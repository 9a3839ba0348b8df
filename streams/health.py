"""The health checks of the stream workers (:mod:`leakguard.health` runs and serves them).

Faust's state (rebalancing, table recovery, the assignment) belongs to its event loop, so
the endpoint's thread never reads it: a one-second timer on the loop copies it into a
:class:`FaustWatch` and beats the loop's heartbeat, and the checks read only that copy. A
stuck loop then shows as a silent heartbeat, not as a stale "ready".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

import faust

from leakguard.health import CheckResult, Checks, Heartbeat, Probe, cached
from streams.exceptions import FrameStoreError
from streams.frame_store import FrameStore

__all__ = ["FaustWatch", "frame_store_check", "model_check", "thread_check"]

#: How often the loop reports in: a second is cheap and keeps the answers fresh.
WATCH_INTERVAL_S: Final[float] = 1.0
#: An event loop that did not run a one-second timer for this long is stuck (a blocking
#: call); batches of inference run in threads and never hold the loop that long.
LOOP_STALL_S: Final[float] = 30.0
#: A write to the frame store is tried at most this often: on an object store it is a
#: round trip, and probes come every few seconds.
STORE_CHECK_TTL_S: Final[float] = 10.0


class FaustWatch:
    """What a Faust app's loop last saw of itself; :meth:`checks` are ``loop`` (liveness)
    and ``assignment`` (readiness: a rebalance and the tables' recovery have completed)."""

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self.heartbeat = Heartbeat(what="event loop", max_silence_s=LOOP_STALL_S)
        self._settled = False
        self._assigned = 0
        app.timer(interval=WATCH_INTERVAL_S, name="health-watch")(self.observe)

    async def observe(self) -> None:
        """One look from the loop (a Faust timer)."""
        tables: Any = self._app.tables  # its type does not declare the recovery service
        recovery = tables.recovery
        self._settled = (
            recovery.completed.is_set() and not recovery.in_recovery and not self._app.rebalancing
        )
        self._assigned = len(self._app.consumer.assignment())
        self.heartbeat.beat()

    def _assignment(self) -> CheckResult:
        if not self._settled:
            return CheckResult(False, "no partitions assigned yet (rebalancing or recovering)")
        return CheckResult(True, f"{self._assigned} partitions assigned")

    def checks(self) -> Checks:
        """The loop's liveness and its assignment's readiness."""
        return Checks(live={"loop": self.heartbeat}, ready={"assignment": self._assignment})


def frame_store_check(store: FrameStore) -> Probe:
    """Readiness: a probe file can be written to and removed from ``store``."""

    def writable() -> CheckResult:
        try:
            store.probe_writable()
        except FrameStoreError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"{store.url} writable")

    return cached(writable, ttl_s=STORE_CHECK_TTL_S)


def model_check(model_version: Callable[[], str]) -> Probe:
    """Readiness: the detector serves a model; the detail names its version."""
    return lambda: CheckResult(True, f"serving {model_version()}")


def thread_check(thread: threading.Thread, *, what: str) -> Probe:
    """Liveness: ``thread``, once started with the worker, still runs."""

    def alive() -> CheckResult:
        if thread.ident is None:
            return CheckResult(True, f"{what} thread starts with the worker")
        if not thread.is_alive():
            return CheckResult(False, f"{what} thread has ended")
        return CheckResult(True, f"{what} thread runs")

    return alive
