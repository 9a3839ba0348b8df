"""What the console's routes work with, built once per process and found on ``app.state``.

Routes take it through :func:`get_services`, so ``server.py`` (from settings) and the tests
(from real local services) build the same application with different collaborators.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import Request

from streams.console.accounts import GuardStore
from streams.console.audit import AuditLog
from streams.console.feed import Changes
from streams.console.outbox import VerdictOutbox
from streams.console.review_queue import ReviewQueue
from streams.console.session_store import SessionStore
from streams.console.sessions import SessionSigner
from streams.console.throttle import SignInThrottle

__all__ = ["ConsoleServices", "get_services"]


#: The overview's figures for the window ending now (the dashboard panels' rows as JSON).
#: The wiring supplies it, so the console holds no analytics code of its own; it raises a
#: :class:`~leakguard.errors.LeakguardError` when the analytics store fails.
OverviewSource = Callable[[timedelta], dict[str, Any]]


@dataclass(kw_only=True)
class ConsoleServices:
    """The console's collaborators.

    ``signer`` signs the sign-in form's tokens, ``sessions`` holds the sessions; ``outbox``
    stores a verdict with its frame's answer and sends it to Kafka; ``audit`` records
    sign-ins, sign-outs and verdicts; ``overview`` is ``None`` when no analytics store could
    be opened (``overview_error`` says why); ``stopping`` ends live views so the server can
    shut down promptly; ``lanes`` empty means any lane; ``secure_cookies``: served over
    TLS (cookies ``Secure``, HSTS sent).
    """

    checkpoint: str
    lanes: tuple[str, ...]
    guards: GuardStore
    signer: SessionSigner
    sessions: SessionStore
    queue: ReviewQueue
    changes: Changes
    outbox: VerdictOutbox
    audit: AuditLog
    overview: OverviewSource | None = None
    overview_error: str | None = None
    secure_cookies: bool = False
    throttle: SignInThrottle = field(default_factory=SignInThrottle)
    stopping: threading.Event = field(default_factory=threading.Event)

    def lane_choices(self) -> list[str]:
        """Lanes a guard may sign in to: the configured ones, else those seen so far."""
        return list(self.lanes) or self.queue.lanes() or ["1"]


def get_services(request: Request) -> ConsoleServices:
    """The services of the application serving ``request``."""
    services: ConsoleServices = request.app.state.services
    return services
