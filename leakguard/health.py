"""Health of a long-running process: named liveness and readiness checks, aggregated.

Every long-running command (the stream workers, the sinks, the bridges) answers the same two
questions on its metrics port (:mod:`leakguard.endpoint`): is the process alive (its loop
and threads still turn: restart it if not) and is it ready (broker reachable, partitions
assigned, model loaded, store writable: send it work). The two are kept apart because a
process whose broker is down must not be restarted for it, only taken out of service.

A role supplies only its checks (:class:`Checks`); how they are run, combined and reported
lives here once. A check is a plain callable returning a :class:`CheckResult`; one that
raises counts as failed with the error as its reason, so a broken check can never take the
endpoint down.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

__all__ = [
    "CheckResult",
    "Checks",
    "Health",
    "HealthReport",
    "Heartbeat",
    "Probe",
    "cached",
    "writable",
]

CheckKind = Literal["live", "ready"]

#: Longest reason kept in a report: an exception text can be a whole response body.
MAX_DETAIL_CHARS: Final[int] = 300


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's answer: ``ok`` and, for an operator, what it saw (``detail``)."""

    ok: bool
    detail: str = ""


class Probe(Protocol):
    """A check: cheap, thread-safe (the endpoint calls it from its own thread), no side
    effects beyond what it measures."""

    def __call__(self) -> CheckResult: ...


def _frozen(probes: Mapping[str, Probe] | None = None) -> Mapping[str, Probe]:
    return MappingProxyType(dict(probes or {}))


@dataclass(frozen=True, slots=True)
class Checks:
    """Named checks of one part of a process: ``live`` ones decide liveness, ``ready`` ones
    readiness. Parts combine with ``|``; a name used twice is a wiring mistake and raises."""

    live: Mapping[str, Probe] = field(default_factory=_frozen)
    ready: Mapping[str, Probe] = field(default_factory=_frozen)

    def __post_init__(self) -> None:
        object.__setattr__(self, "live", _frozen(self.live))
        object.__setattr__(self, "ready", _frozen(self.ready))
        if twice := set(self.live) & set(self.ready):
            raise ValueError(f"health checks named twice: {', '.join(sorted(twice))}")

    def __or__(self, other: Checks) -> Checks:
        if twice := (set(self.live) | set(self.ready)) & (set(other.live) | set(other.ready)):
            raise ValueError(f"health checks named twice: {', '.join(sorted(twice))}")
        return Checks(live={**self.live, **other.live}, ready={**self.ready, **other.ready})


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The outcome of running every check once.

    ``live``: every liveness check passed. ``ready``: alive and every readiness check passed.
    ``checks``: name -> kind, ok and detail. ``reasons``: ``"name: detail"`` of each failed
    check, the first thing an operator reads.
    """

    live: bool
    ready: bool
    checks: Mapping[str, tuple[CheckKind, CheckResult]]

    @property
    def reasons(self) -> list[str]:
        """``"name: detail"`` of every failed check, liveness first."""
        failed = [(kind != "live", name, r) for name, (kind, r) in self.checks.items() if not r.ok]
        return [f"{name}: {result.detail}" for _, name, result in sorted(failed)]

    @property
    def status(self) -> Literal["ready", "not ready", "not live"]:
        """One word for the whole process."""
        if not self.live:
            return "not live"
        return "ready" if self.ready else "not ready"

    def to_json(self) -> dict[str, Any]:
        """The JSON body of ``/healthz``: ``status``, ``live``, ``ready``, ``reasons`` and
        ``checks`` (name -> ``{"kind", "ok", "detail"}``)."""
        return {
            "status": self.status,
            "live": self.live,
            "ready": self.ready,
            "reasons": self.reasons,
            "checks": {
                name: {"kind": kind, "ok": result.ok, "detail": result.detail}
                for name, (kind, result) in self.checks.items()
            },
        }


class Health:
    """The checks of one process. Parts known only later (a model loaded after the endpoint
    is up) are added with :meth:`add`; a part that must exist before the process is ready
    says so with a readiness check of its own until then (see :meth:`pending`)."""

    def __init__(self, checks: Checks | None = None) -> None:
        self._checks = checks if checks is not None else Checks()
        self._lock = threading.Lock()

    def add(self, checks: Checks) -> None:
        """Add a part's checks (raises ``ValueError`` for a name already taken)."""
        with self._lock:
            self._checks = self._checks | checks

    def report(self) -> HealthReport:
        """Run every check once, now."""
        with self._lock:
            checks = self._checks
        results: dict[str, tuple[CheckKind, CheckResult]] = {}
        for name, probe in checks.live.items():
            results[name] = ("live", _run(probe))
        for name, probe in checks.ready.items():
            results[name] = ("ready", _run(probe))
        live = all(result.ok for kind, result in results.values() if kind == "live")
        ready = live and all(result.ok for kind, result in results.values() if kind == "ready")
        return HealthReport(live=live, ready=ready, checks=results)

    def pending(self, name: str, detail: str) -> Callable[[Checks], None]:
        """A readiness check ``name`` that fails with ``detail`` until the returned function
        is called with the part's real checks, which then replace it: how a process that
        serves its endpoint before it has built everything says what it is still doing."""
        self.add(Checks(ready={name: lambda: CheckResult(False, detail)}))

        def arrive(checks: Checks) -> None:
            with self._lock:
                ready = {key: probe for key, probe in self._checks.ready.items() if key != name}
                self._checks = Checks(live=self._checks.live, ready=ready) | checks

        return arrive


def _run(probe: Probe) -> CheckResult:
    """A check's result; one that raises failed, with its error as the reason."""
    try:
        result = probe()
    except Exception as exc:  # a check must never take the endpoint down
        result = CheckResult(False, f"check failed: {type(exc).__name__}: {exc}")
    return CheckResult(result.ok, result.detail[:MAX_DETAIL_CHARS])


class Heartbeat:
    """Liveness of a loop: the loop calls :meth:`beat` each turn; the check fails once no
    beat came for ``max_silence_s``. Counted from construction, so a process that is still
    starting (a model loading) is alive until it had the time for a first turn."""

    def __init__(
        self, *, what: str, max_silence_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_silence_s <= 0:
            raise ValueError(f"max_silence_s must be positive, got {max_silence_s}")
        self._what = what
        self._max_silence_s = max_silence_s
        self._clock = clock
        self._last = clock()
        self._beats = 0

    def beat(self) -> None:
        """One turn of the loop (a float store: safe from any thread)."""
        self._last = self._clock()
        self._beats += 1

    def __call__(self) -> CheckResult:
        silence_s = self._clock() - self._last
        if silence_s > self._max_silence_s:
            limit = f"limit {self._max_silence_s:g} s"
            return CheckResult(False, f"{self._what} silent for {silence_s:.0f} s ({limit})")
        if self._beats == 0:
            return CheckResult(True, f"{self._what} starting")
        return CheckResult(True, f"{self._what} turned {silence_s:.1f} s ago")


def cached(probe: Probe, *, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> Probe:
    """``probe`` run at most once per ``ttl_s``: for checks that cost a round trip (broker
    metadata, a write to a remote store), so scrapes and probes every second do not each
    pay it. Callers arriving while it runs wait for that run rather than starting another."""
    lock = threading.Lock()
    last: list[tuple[float, CheckResult]] = []

    def run() -> CheckResult:
        with lock:
            if last and clock() - last[0][0] < ttl_s:
                return last[0][1]
            result = _run(probe)
            last[:] = [(clock(), result)]
            return result

    return run


def writable(path: Path, *, what: str) -> Probe:
    """A readiness check: this process may write in the directory ``path`` (a state file's
    folder, a registry, a watched folder), or create it where it does not exist yet;
    ``what`` names it for the operator."""

    def check() -> CheckResult:
        existing = next((p for p in (path, *path.parents) if p.exists()), path)
        if not existing.is_dir():
            return CheckResult(False, f"{what} {path}: {existing} is not a directory")
        if not os.access(existing, os.W_OK | os.X_OK):
            return CheckResult(False, f"{what} {path}: {existing} is not writable")
        return CheckResult(True, f"{what} {path} writable")

    return check
