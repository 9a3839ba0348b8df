"""Sign-in throttling: a guessing attack on one account is slowed to a crawl.

After ``max_failures`` wrong passwords for one guard name within ``window_s``, that name is
refused (HTTP 429) until the window has passed since the last failure; a correct sign-in
clears the count. State is per console process and in memory: a restart forgets it, which
costs an attacker a restart they cannot cause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_MAX_FAILURES", "DEFAULT_WINDOW_S", "SignInThrottle"]

#: A guard mistypes a few times; a script tries thousands.
DEFAULT_MAX_FAILURES: Final = 5
#: Five minutes of silence after the fifth failure: a shift loses little, an attack a lot.
DEFAULT_WINDOW_S: Final = 300.0
#: Names remembered at most: a flood of made-up names cannot grow memory without bound.
MAX_TRACKED_NAMES: Final = 10_000


class SignInThrottle:
    """Counts failed sign-ins per guard name; ``clock`` is injectable for tests."""

    def __init__(
        self,
        *,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_failures
        self._window_s = window_s
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def blocked(self, name: str) -> bool:
        """Whether ``name`` must wait before trying again."""
        with self._lock:
            count, last = self._failures.get(name, (0, 0.0))
            if count and self._clock() - last > self._window_s:
                del self._failures[name]
                return False
            return count >= self._max

    def failed(self, name: str) -> None:
        """Record a wrong password (or unknown name)."""
        with self._lock:
            if len(self._failures) >= MAX_TRACKED_NAMES and name not in self._failures:
                self._failures.pop(next(iter(self._failures)))
            count, _ = self._failures.get(name, (0, 0.0))
            self._failures[name] = (count + 1, self._clock())

    def succeeded(self, name: str) -> None:
        """Forget the failures of ``name``."""
        with self._lock:
            self._failures.pop(name, None)
