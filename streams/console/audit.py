"""The console's audit log: who signed in, from where, who signed out, who answered what.

One JSON object per line in ``DATA_DIR/console/audit.jsonl`` (mode 0600), shared by the
consoles of one data dir (each record names its checkpoint). Every record is written with
one ``write`` on a file opened with ``O_APPEND``, so records of two processes never
interleave and nothing earlier is ever rewritten. Passwords are never logged; a failed
sign-in logs the name that was tried, JSON-escaped, so no name can forge a line.

A record that cannot be written (a full disk) is logged as an error and the action goes
on: a guard must still be able to answer an alarm when the audit disk is full.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

__all__ = ["AuditLog", "SignInOutcome", "default_audit_path"]

logger = logging.getLogger(__name__)

#: ``ok``; ``refused`` (wrong name, password or lane); ``throttled`` (429); ``expired-form``
#: (the sign-in form's token was missing, wrong or old).
SignInOutcome = Literal["ok", "refused", "throttled", "expired-form"]


def default_audit_path(state_dir: Path) -> Path:
    """Where the consoles of a data dir append their audit records."""
    return state_dir / "audit.jsonl"


class AuditLog:
    """Appends audit records of ``checkpoint``'s console to ``path`` (created 0600).

    ``clock`` (seconds since the epoch) is injectable so tests can check the times.
    """

    def __init__(
        self, path: Path, *, checkpoint: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self._checkpoint = checkpoint
        self._clock = clock
        self._lock = threading.Lock()

    def sign_in(self, *, guard: str, lane: str, address: str, outcome: SignInOutcome) -> None:
        """A sign-in attempt and how it ended."""
        self._write("sign-in", guard=guard, lane=lane, address=address, outcome=outcome)

    def sign_out(self, *, guard: str, lane: str, address: str) -> None:
        """A guard ended their session."""
        self._write("sign-out", guard=guard, lane=lane, address=address)

    def verdict(
        self, *, guard: str, lane: str, frame_id: str, decision: str, verdict_id: str
    ) -> None:
        """A guard's verdict on a frame, as it was stored for Kafka."""
        self._write(
            "verdict",
            guard=guard,
            lane=lane,
            frame_id=frame_id,
            decision=decision,
            verdict_id=verdict_id,
        )

    def _write(self, event: str, **fields: str) -> None:
        time_iso = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="milliseconds")
        record = {"time": time_iso, "event": event, "checkpoint": self._checkpoint, **fields}
        line = (json.dumps(record, ensure_ascii=True) + "\n").encode()
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(handle, line)
                finally:
                    os.close(handle)
        except OSError:
            logger.exception("cannot write the audit record %s to %s", line.decode(), self.path)
