"""The model manager's Kafka loop: one thread beside the edge's Faust agent.

Every edge worker must see every ``ModelUpdate`` (a consumer group would hand the single
partition of ``model.updates`` to one worker only), so the loop uses ``assign()`` with no
group: ``model.updates`` from the beginning (the topic is kept forever and replayed, then
folded, at start), ``outcomes`` from ``outcome_lookback_s`` ago. ``ModelStatus`` events go
to ``model.status`` keyed by checkpoint. An undecodable ``ModelUpdate``, and one that is no
genuine, newer decision of a trusted registry (:mod:`streams.rollout.decisions`), is
dead-lettered with its original bytes and never reaches the manager; an undecodable outcome
is skipped (the cloud's consumers of record dead-letter those, and every edge reads them), as
is, with a producer keyring, an outcome the cloud worker did not tag.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from schemas.authenticity import EventKeyring, Headers, Tagger
from schemas.codec import Codec
from schemas.consume import EventBatches, reader_config
from schemas.events import ModelStatus, ModelUpdate, Outcome
from schemas.exceptions import SchemaError
from streams.detect import FrameDetector
from streams.exceptions import DecisionRefusedError
from streams.rollout.config import RolloutConfig
from streams.rollout.decisions import DecisionChecker
from streams.rollout.fetch import load_update, trusted_keys
from streams.rollout.manager import ModelManager, cache_path, rolled_back_memory

__all__ = ["RolloutLoop", "genuine_outcome"]

logger = logging.getLogger(__name__)

#: Longest a poll blocks: bounds how late a stop request or a status tick is noticed.
POLL_TIMEOUT_S: Final[float] = 0.2
#: Messages per poll: a burst of outcomes is counted in a few calls.
POLL_BATCH: Final[int] = 500


def genuine_outcome(
    value: bytes,
    headers: Headers,
    *,
    codec: Codec,
    keyring: EventKeyring | None,
) -> Outcome | None:
    """The outcome in ``value``, or None (logged) when it does not decode or, with
    ``keyring``, the cloud worker did not tag it: every edge reads outcomes, and a forged
    false alarm counted here could make the edge roll a good model back."""
    try:
        outcome = codec.decode(value, Outcome)
        if keyring is not None:
            keyring.check(outcome, value, headers)
    except SchemaError as exc:
        logger.warning("skipping an outcome: %s", exc)
        return None
    return outcome


class RolloutLoop:
    """Runs a :class:`ModelManager` for ``detector`` on a daemon thread until :meth:`stop`.

    ``thresholds`` (class id -> alarm score) apply to every model it loads, so a rollout
    keeps the checkpoint's operating point; ``None``: the engine's default. ``device`` is
    where every loaded model runs, the served model's device. ``tag`` tags each
    ``ModelStatus`` with the edge's producer key (:mod:`schemas.authenticity`); with
    ``keyring``, outcomes the cloud worker did not tag are skipped, so forged false alarms
    cannot make the edge roll a good model back.
    """

    def __init__(
        self,
        *,
        detector: FrameDetector,
        config: RolloutConfig,
        bootstrap_servers: str,
        worker_id: str,
        codec: Codec | None = None,
        client_config: Mapping[str, str] | None = None,
        thresholds: Mapping[int, float] | None = None,
        device: str = "cpu",
        tag: Tagger | None = None,
        keyring: EventKeyring | None = None,
    ) -> None:
        self._config = config
        self._tag = tag
        self._keyring = keyring
        self._codec = codec if codec is not None else Codec()
        self._worker_id = worker_id
        common = {"bootstrap.servers": bootstrap_servers, **(client_config or {})}
        self._consumer_config = reader_config(common, name=f"leakguard-model-manager-{worker_id}")
        self._producer = Producer(common)
        keys = trusted_keys(config.trusted_key_paths)
        self._decisions = DecisionChecker(keys)
        cache = cache_path(config)
        self.manager = ModelManager(
            detector=detector,
            config=config,
            worker_id=worker_id,
            load=lambda update: load_update(
                update,
                keys=keys,
                cache_dir=cache,
                thresholds=thresholds,
                device=device,
                roots=config.artifact_roots,
            ),
            publish=self._publish,
            rolled_back=rolled_back_memory(config),
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-manager", daemon=True)

    @property
    def thread(self) -> threading.Thread:
        """The model manager's thread (its liveness is the worker's)."""
        return self._thread

    def start(self) -> None:
        """Start the thread (replay, then follow)."""
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the thread to stop and wait for it."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _publish(self, status: ModelStatus) -> None:
        value = self._codec.encode(status)
        self._producer.produce(
            self._config.topics.model_status,
            key=status.checkpoint.encode(),
            value=value,
            headers=None if self._tag is None else self._tag(value),
        )
        self._producer.flush(10)

    def _assign(self, consumer: Consumer) -> int:
        """Assign both topics; returns the end offset of ``model.updates`` at start."""
        updates = self._config.topics.model_updates
        _, high = consumer.get_watermark_offsets(TopicPartition(updates, 0), timeout=10)
        since_ms = int((time.time() - self._config.outcome_lookback_s) * 1000)
        metadata = consumer.list_topics(self._config.topics.outcomes, timeout=10)
        partitions = metadata.topics[self._config.topics.outcomes].partitions
        starts = consumer.offsets_for_times(
            [TopicPartition(self._config.topics.outcomes, p, since_ms) for p in partitions],
            timeout=10,
        )
        consumer.assign([TopicPartition(updates, 0, OFFSET_BEGINNING), *starts])
        return int(high)

    def _run(self) -> None:
        consumer = Consumer(self._consumer_config)
        batches = EventBatches(
            consumer=consumer,
            producer=self._producer,
            routes=self._config.topics.routes(("ModelUpdate", "Outcome")),
            dead_letter_topic=self._config.topics.dead_letters,
            worker_id=self._worker_id,
            codec=self._codec,
            batch_messages=POLL_BATCH,
            poll_timeout_s=POLL_TIMEOUT_S,
        )
        try:
            replay_end = self._assign(consumer)
            history: list[ModelUpdate] = []
            replaying = replay_end > 0
            while not self._stop.is_set():
                updates, outcomes, at_end = self._poll(batches, replay_end)
                if replaying:
                    history += updates
                    if at_end:
                        replaying = False
                        self.manager.catch_up(history)
                else:
                    for update in updates:
                        self.manager.on_update(update)
                self.manager.on_outcomes(outcomes)
                self.manager.tick()
        except Exception:  # the thread must say why it died; the worker keeps serving
            logger.exception("model manager stopped; the current model keeps serving")
            raise
        finally:
            consumer.close()
            self._producer.flush(10)

    def _poll(
        self, batches: EventBatches, replay_end: int
    ) -> tuple[list[ModelUpdate], list[Outcome], bool]:
        """One batch: the updates (an undecodable or refused one is dead-lettered, the edge
        being a consumer of record of ``model.updates``) and the outcomes (an undecodable one is
        skipped: the cloud worker that produced it dead-letters its own input)."""
        updates: list[ModelUpdate] = []
        outcomes: list[Outcome] = []
        at_end = False
        for message in batches.poll():
            if message.topic() == self._config.topics.model_updates:
                at_end = at_end or message.offset() + 1 >= replay_end
                update = self._decision(batches, message)
                if update is not None:
                    updates.append(update)
            else:
                outcome = genuine_outcome(
                    message.value() or b"",
                    message.headers(),
                    codec=self._codec,
                    keyring=self._keyring,
                )
                if outcome is not None:
                    outcomes.append(outcome)
        return updates, outcomes, at_end

    def _decision(self, batches: EventBatches, message: Any) -> ModelUpdate | None:
        """The message's update when it decodes and is a genuine, newer decision; otherwise
        None, and the message is dead-lettered (this reader never commits, so at once)."""
        update = batches.event(message)
        if isinstance(update, ModelUpdate):
            try:
                self._decisions.accept(update)
            except DecisionRefusedError as exc:
                logger.warning("refusing a model update: %s", exc)
                batches.dead_letter(message, exc)
            else:
                return update
        batches.deliver()
        return None
