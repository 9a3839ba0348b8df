"""The retrain consumer: ``annotations`` in, training-set frames out, cycles started.

A thin loop over confluent-kafka in the ``leakguard-retrain`` group. For each ``Annotation``
it fetches the frame image (verified against the annotation's SHA-256) and adds the frame to
the pending training set; offsets are committed after the batch is on disk, and redelivered
annotations are recognised by id, so at-least-once delivery adds each frame once. An
undecodable event, an image that cannot be fetched or verified and a malformed box are
dead-lettered with the original bytes; the loop goes on.

Training runs in a child process (:class:`retrain.job.JobProcess`): the loop keeps
consuming while it runs and finishes the cycle (gate, registry, rollout) when it exits.

The same group reads ``model.status``: an edge's own rollback is applied to the registry
(:mod:`retrain.feedback`), so every edge hears of it and the registry tells the truth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Final

from confluent_kafka import Consumer, Message, Producer

from leakguard.errors import LeakguardError
from leakguard.health import Checks
from retrain.cycle import Cycle, CycleResult, Retrainer
from retrain.exceptions import RegistryError
from retrain.feedback import apply_edge_rollback
from schemas.authenticity import EventKeyring
from schemas.codec import Codec
from schemas.consume import EventBatches, worker_config
from schemas.events import Annotation, ImageLink, ModelStatus
from schemas.topics import Topics

__all__ = ["RetrainConsumer"]

logger = logging.getLogger(__name__)

#: Longest a poll blocks: bounds how late a finished job or a stop request is noticed.
POLL_TIMEOUT_S: Final[float] = 0.5
POLL_BATCH: Final[int] = 100


class RetrainConsumer:
    """Consumes annotations into ``retrainer``'s training set and runs its cycles."""

    def __init__(
        self,
        *,
        retrainer: Retrainer,
        fetch_image: Callable[[ImageLink], bytes],
        bootstrap_servers: str,
        group_id: str = "leakguard-retrain",
        topics: Topics | None = None,
        worker_id: str = "retrain",
        codec: Codec | None = None,
        client_config: Mapping[str, str] | None = None,
        on_cycle: Callable[[CycleResult], None] | None = None,
        keyring: EventKeyring | None = None,
    ) -> None:
        self.retrainer = retrainer
        self._keyring = keyring
        self._fetch = fetch_image
        self._topics = topics if topics is not None else Topics()
        self._codec = codec if codec is not None else Codec()
        self._on_cycle = on_cycle
        common = {"bootstrap.servers": bootstrap_servers, **(client_config or {})}
        self._consumer = Consumer(worker_config(common, group_id=group_id))
        self._producer = Producer(common)
        self._batches = EventBatches(
            consumer=self._consumer,
            producer=self._producer,
            routes=self._topics.routes(("Annotation", "ModelStatus")),
            dead_letter_topic=self._topics.dead_letters,
            worker_id=worker_id,
            codec=self._codec,
            batch_messages=POLL_BATCH,
            poll_timeout_s=POLL_TIMEOUT_S,
        )
        self.cycle: Cycle | None = None
        self.added = 0

    def checks(self) -> Checks:
        """Health of the consuming loop (:meth:`schemas.consume.EventBatches.checks`)."""
        return self._batches.checks()

    def run(self, *, should_stop: Callable[[], bool]) -> None:
        """Consume until ``should_stop()``; a running job is waited for before returning."""
        self._batches.subscribe()
        try:
            while not should_stop():
                self.poll_once()
        finally:
            if self.cycle is not None:
                self._finish(self.cycle)
            self._consumer.close()
            self._producer.flush(10)

    def poll_once(self) -> None:
        """One batch: add frames, commit, then finish or start a cycle as due."""
        messages = self._batches.poll()
        for message in messages:
            self._handle(message)
        if messages:
            self._batches.commit()
        if self.cycle is not None and self.cycle.job.done():
            self._finish(self.cycle)
        if self.cycle is None and (reason := self.retrainer.due()) is not None:
            logger.info("retrain cycle due (%s)", reason)
            try:
                self.cycle = self.retrainer.start()
            except LeakguardError as exc:
                logger.error("cannot start a retrain cycle: %s", exc)

    def _finish(self, cycle: Cycle) -> None:
        self.cycle = None
        try:
            result = self.retrainer.finish(cycle)
        except LeakguardError as exc:
            logger.error("retrain cycle on %s failed: %s", cycle.training_set.name, exc)
            return
        if self._on_cycle is not None:
            self._on_cycle(result)

    def _handle(self, message: Message) -> None:
        event = self._batches.event(message)
        try:
            if self._keyring is not None and isinstance(event, ModelStatus | Annotation):
                # A forged rollback would reject a good model, a forged annotation teach the
                # detector that a storage medium is harmless.
                self._keyring.check(event, message.value() or b"", message.headers())
            if isinstance(event, ModelStatus):
                self._on_status(event)
            elif isinstance(event, Annotation) and self.retrainer.store.add(
                event, self._fetch(event.image)
            ):
                self.added += 1
        except LeakguardError as exc:  # an image that cannot be fetched, a malformed box
            self._batches.dead_letter(message, exc)

    def _on_status(self, status: ModelStatus) -> None:
        try:
            apply_edge_rollback(self.retrainer.registry, status)
        except RegistryError as exc:  # a valid report the registry cannot act on: say so
            logger.error("cannot apply the rollback of %s: %s", status.model_version, exc)
