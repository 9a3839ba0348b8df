"""Verdicts leave through the review queue's outbox, so a stored answer is never lost.

A guard's answer is stored first (the frame marked answered and the verdict put in the
outbox, one SQLite transaction, :meth:`ReviewQueue.answer`), then published; it leaves the
outbox only when Kafka acknowledged it. A verdict Kafka did not take in time stays there and
is sent again by :meth:`VerdictOutbox.run` (at start, then every few seconds), and so is one
left by a console killed mid-send, once its lease runs out.

Each sender leases a verdict before sending it, in the database, so the request that stored
it and the retry loop (or a second console process on the same queue) never send it at the
same time: in normal operation every verdict is published once. A send whose
acknowledgement was lost can be repeated after the lease: the copy is the same stored
bytes, with the same ``event_id``, so a reader can tell it is the same verdict.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from schemas.events import GuardVerdict
from streams.console.exceptions import PublishError
from streams.console.review_queue import ReviewQueue

__all__ = ["LEASE_S", "RETRY_S", "Publish", "VerdictOutbox"]

logger = logging.getLogger(__name__)

#: Sends a verdict, returns once Kafka acknowledged it, raises PublishError otherwise.
Publish = Callable[[GuardVerdict], None]

#: A sender holds a verdict this long: far longer than one publish may take (10 s), so a
#: lease runs out only when its sender died.
LEASE_S: Final = 60.0
#: How often verdicts left in the outbox are tried again: Kafka back within seconds is
#: noticed within seconds.
RETRY_S: Final = 5.0


class VerdictOutbox:
    """Stores verdicts in ``queue``'s outbox and publishes them with ``publish``.

    ``clock`` (seconds since the epoch) is injectable so leases can run out in a test.
    """

    def __init__(
        self,
        *,
        queue: ReviewQueue,
        publish: Publish,
        lease_s: float = LEASE_S,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._queue = queue
        self._publish = publish
        self._lease_s = lease_s
        self._retry_s = retry_s
        self._clock = clock

    def submit(self, item_id: int, verdict: GuardVerdict) -> bool:
        """Store ``verdict`` as the answer of frame ``item_id``, then publish it; whether
        Kafka acknowledged it (``False``: it stays in the outbox and is sent later).

        Raises :class:`FrameNotFoundError` or :class:`VerdictError` (answered already)
        before anything is stored.
        """
        self._queue.answer(item_id, verdict, leased_until_ms=self._lease_end_ms())
        return self._send(verdict)

    def drain(self) -> int:
        """Publish the verdicts no sender holds, oldest first, until the outbox is empty or
        Kafka fails one (the rest wait for the next round); how many were delivered."""
        delivered = 0
        while True:
            verdict = self._queue.lease_next(
                now_ms=int(self._clock() * 1000), leased_until_ms=self._lease_end_ms()
            )
            if verdict is None or not self._send(verdict):
                return delivered
            delivered += 1

    def run(self, stop: threading.Event) -> None:
        """Drain the outbox at once (what a previous run left), then every ``retry_s``
        until ``stop`` is set."""
        while not stop.is_set():
            if sent := self.drain():
                logger.info("sent %d verdict(s) left in the outbox", sent)
            stop.wait(self._retry_s)

    def _send(self, verdict: GuardVerdict) -> bool:
        try:
            self._publish(verdict)
        except PublishError as exc:
            logger.warning("verdict %s stays in the outbox: %s", verdict.event_id, exc)
            self._queue.unlease(verdict)
            return False
        self._queue.delivered(verdict)
        return True

    def _lease_end_ms(self) -> int:
        return int((self._clock() + self._lease_s) * 1000)
