"""Sign-in throttling: guessing slows to a crawl, and no one can lock a guard out.

Failures are counted per (guard name, client address), and per address over all names.
Each key fails a few times freely; after that each further failure makes it wait twice as
long as the last (1 s, 2 s, 4 s ... at most 15 minutes), answered 429 with the time left.
Because the address is part of the key, guesses at ``ana`` from one machine never block ana
at her own screen. Because the address also counts alone, made-up names cannot wash out one
name's count: every name costs the address a failure of its own.

Memory is bounded: per address the names failed least recently are forgotten first (that
address's own, never another's), and beyond the address limit the address failed least
recently goes. A key without a failure for an hour starts over.

Checking and counting are one step under a lock (:meth:`SignInThrottle.attempt`): an attempt
counts as a failure from the start until the password proves right, so concurrent guesses
cannot all pass the check before any of them is counted. State is per console process and
in memory: a restart forgets it, which costs an attacker a restart they cannot cause.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from streams.console.exceptions import SignInThrottledError

__all__ = ["FREE_FAILURES_PER_ADDRESS", "FREE_FAILURES_PER_NAME", "SignInThrottle"]

#: A guard mistypes a few times; a script tries thousands.
FREE_FAILURES_PER_NAME: Final = 3
#: A screen shared by a shift's guards sees a few typos each before it is slowed.
FREE_FAILURES_PER_ADDRESS: Final = 10
#: The first wait after the free failures; each further failure doubles it.
BASE_DELAY_S: Final = 1.0
#: The longest wait: a guess every 15 minutes is four an hour, and a guard waits at worst that.
MAX_DELAY_S: Final = 900.0
#: A key with no failure for this long starts over (longer than MAX_DELAY_S, so a patient
#: attacker stays at the slowest pace).
FORGET_AFTER_S: Final = 3600.0
#: Names tracked per address: a flood of made-up names only evicts that address's own.
MAX_NAMES_PER_ADDRESS: Final = 16
#: Addresses tracked at most (with their names about 10 MB): memory cannot grow unbounded.
MAX_ADDRESSES: Final = 4096
#: 2 ** 20 seconds is far past MAX_DELAY_S: the exponent needs no more.
_MAX_DOUBLINGS: Final = 20


@dataclass(slots=True)
class _Failures:
    """Failures of one key and when the last was counted (clock seconds)."""

    count: int = 0
    last_s: float = 0.0

    def wait_s(self, now: float, *, free: int) -> float:
        """Seconds this key must still wait before its next attempt (0: go ahead)."""
        if now - self.last_s >= FORGET_AFTER_S:
            self.count = 0
        if self.count < free:
            return 0.0
        delay = min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** min(self.count - free, _MAX_DOUBLINGS))
        return max(0.0, self.last_s + delay - now)

    def count_one(self, now: float) -> None:
        self.count += 1
        self.last_s = now


@dataclass(slots=True)
class _Address:
    """One client address: its failures over all names, and per name (least recent first)."""

    total: _Failures = field(default_factory=_Failures)
    names: OrderedDict[str, _Failures] = field(default_factory=OrderedDict)


class SignInThrottle:
    """Failed sign-ins per (name, address) and per address; ``clock`` injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._addresses: OrderedDict[str, _Address] = OrderedDict()
        self._lock = threading.Lock()

    def attempt(self, name: str, address: str) -> None:
        """Let one sign-in of ``name`` from ``address`` go ahead, counted as a failure
        until :meth:`succeeded`; :class:`SignInThrottledError` (not counted) when it must
        wait."""
        with self._lock:
            now = self._clock()
            entry = self._addresses.get(address)
            if entry is not None:
                key = entry.names.get(name)
                wait_s = entry.total.wait_s(now, free=FREE_FAILURES_PER_ADDRESS)
                if key is not None:
                    wait_s = max(wait_s, key.wait_s(now, free=FREE_FAILURES_PER_NAME))
                if wait_s > 0:
                    raise SignInThrottledError(wait_s)
            self._count(name, address, now)

    def succeeded(self, name: str, address: str) -> None:
        """The attempt's password was right: forget ``name``'s failures at ``address`` and
        take this attempt off the address's count (its earlier failures stay, or a guesser
        with one account of their own could reset their budget by signing in)."""
        with self._lock:
            entry = self._addresses.get(address)
            if entry is None:
                return
            entry.names.pop(name, None)
            entry.total.count = max(0, entry.total.count - 1)

    def _count(self, name: str, address: str, now: float) -> None:
        entry = self._addresses.get(address)
        if entry is None:
            entry = self._addresses[address] = _Address()
            if len(self._addresses) > MAX_ADDRESSES:
                self._addresses.popitem(last=False)
        self._addresses.move_to_end(address)
        entry.total.count_one(now)
        key = entry.names.get(name)
        if key is None:
            key = entry.names[name] = _Failures()
            if len(entry.names) > MAX_NAMES_PER_ADDRESS:
                entry.names.popitem(last=False)
        entry.names.move_to_end(name)
        key.count_one(now)
