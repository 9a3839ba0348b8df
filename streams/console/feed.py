"""Kafka into the review queue: the console's own reader of ``detections``.

Each ``Detection`` links to the image the edge staged in the frame store before sending
it, so the console reads the images of its own checkpoint's frames from there and never
consumes ``scanner.frames``, whose messages carry the whole fleet's images.

The console reads every partition with ``assign()`` rather than joining a consumer group: a
console must see all frames of its checkpoint, and two consoles of one checkpoint (two
screens, a restart overlapping the old process) must not split the partitions between them.
Positions come from the queue's stored offsets. On the console's first start every
partition starts at its end as it is then, resolved (and stored) before the console says it
is ready, so a frame produced after "ready" is never skipped, and one produced while the
console is down is read after its restart.

Messages that do not decode are skipped with a warning: the cloud worker, the consumer of
record of ``detections``, already sends them to the dead-letter topic, and a second dead
letter from the console would count the same bad message twice. A detection whose image
cannot be read (no link, gone, too large, wrong hash) still enters the queue, with the
reason instead of the image, so the guard sees the alarm. With a keyring
(:mod:`schemas.authenticity`), a detection that its checkpoint's edge did not tag is skipped
and counted (the cloud dead-letters it): a forged alarm never reaches a guard's screen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from typing import Any, Final

from confluent_kafka import Consumer, KafkaException, TopicPartition

from schemas.authenticity import AuthenticityError, EventKeyring, Headers
from schemas.codec import Codec
from schemas.consume import reader_config
from schemas.events import Detection, ImageLink
from schemas.exceptions import DecodeError, ImageRejectedError
from schemas.images import ImageReader
from schemas.topics import Topics
from streams.console.exceptions import ConsoleError
from streams.console.review_queue import ReviewQueue, ViewImage

__all__ = ["Changes", "FrameFeed"]

logger = logging.getLogger(__name__)

#: Messages taken per step after the first, and how long an idle step waits for that first
#: one; a step returns as soon as a message is there, so the wait costs no latency.
CONSUME_BATCH: Final = 200
POLL_TIMEOUT_S: Final = 0.1
#: How often finished frames are pruned from the queue.
PRUNE_EVERY_S: Final = 30.0
#: The broker answers an empty fetch after at most this long. librdkafka's 500 ms default
#: made the embedded broker (Tansu) hold each new detection for ~150 ms on average (it does
#: not end a waiting fetch when data arrives); 50 ms bounds that at the cost of 20 idle
#: fetches a second, nothing for one console.
FETCH_WAIT_MAX_MS: Final = 50
#: How long start-up waits for the broker to list partitions and watermarks.
METADATA_TIMEOUT_S: Final = 15.0


class Changes:
    """A counter bumped whenever the queue changes; live views compare it to what they sent."""

    def __init__(self) -> None:
        self._version = 0
        self._lock = threading.Lock()

    @property
    def version(self) -> int:
        """The number of changes so far."""
        return self._version

    def bump(self) -> None:
        """Announce a change."""
        with self._lock:
            self._version += 1


class FrameFeed:
    """Reads detections of ``checkpoint`` (and ``lanes``, all when empty) and their images
    (through ``images``, confined to the frame store) into ``queue``; ``consumer`` is a
    confluent-kafka ``Consumer`` (built when absent)."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topics: Topics,
        queue: ReviewQueue,
        checkpoint: str,
        lanes: Collection[str] = (),
        changes: Changes | None = None,
        client_config: dict[str, str] | None = None,
        consumer: Any = None,
        codec: Codec | None = None,
        images: ImageReader | None = None,
        keyring: EventKeyring | None = None,
    ) -> None:
        self._topics = (topics.detections,)
        self._queue = queue
        self._checkpoint = checkpoint
        self._lanes = frozenset(lanes)
        self._images = images if images is not None else ImageReader()
        self.changes = changes if changes is not None else Changes()
        self._codec = codec if codec is not None else Codec()
        self._consumer = consumer or Consumer(
            reader_config(
                {"bootstrap.servers": bootstrap_servers, **(client_config or {})},
                name=f"leakguard-console-{checkpoint}",
                **{"auto.offset.reset": "earliest", "fetch.wait.max.ms": FETCH_WAIT_MAX_MS},
            )
        )
        self._keyring = keyring
        self.skipped = 0
        self.unauthenticated = 0

    def assign(self) -> None:
        """Take every partition at the stored offset, else at today's end.

        The end offsets taken are stored at once: a partition that gets no message before a
        restart must resume from here too, not from the end as it is at the restart.
        """
        stored = self._queue.offsets()
        positions: list[TopicPartition] = []
        first_seen: dict[tuple[str, int], int] = {}
        try:
            for topic in self._topics:
                metadata = self._consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S)
                partitions = metadata.topics[topic].partitions
                if not partitions:
                    raise ConsoleError(f"topic {topic} does not exist: `leakguard topics apply`")
                for partition in sorted(partitions):
                    offset = stored.get((topic, partition))
                    if offset is None:
                        _, offset = self._consumer.get_watermark_offsets(
                            TopicPartition(topic, partition), timeout=METADATA_TIMEOUT_S
                        )
                        first_seen[(topic, partition)] = offset
                    positions.append(TopicPartition(topic, partition, offset))
        except KafkaException as exc:
            raise ConsoleError(f"cannot read {', '.join(self._topics)} from Kafka: {exc}") from exc
        if first_seen:
            self._queue.save_offsets(first_seen)
        self._consumer.assign(positions)

    def run(self, stop: threading.Event) -> None:
        """Read until ``stop`` is set, then close the consumer."""
        pruned_at = time.monotonic()
        try:
            while not stop.is_set():
                self.step()
                if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                    self._queue.prune()
                    pruned_at = time.monotonic()
        finally:
            self._consumer.close()

    def step(self) -> int:
        """One poll: store what belongs to this console, then the offsets. Returns messages."""
        # consume(n, timeout) waits for n messages or the timeout; poll() returns at the
        # first, then consume(n, 0) takes whatever else has arrived without waiting.
        first = self._consumer.poll(POLL_TIMEOUT_S)
        if first is None:
            return 0
        messages = [first, *self._consumer.consume(CONSUME_BATCH, 0)]
        offsets: dict[tuple[str, int], int] = {}
        changed = False
        for message in messages:
            if message.error() is not None:
                logger.warning("Kafka consumer error (librdkafka retries): %s", message.error())
                continue
            changed |= self._take(message.value(), message.headers())
            offsets[(message.topic(), message.partition())] = message.offset() + 1
        if offsets:
            self._queue.save_offsets(offsets)
        if changed:
            self.changes.bump()
        return len(messages)

    def _take(self, value: bytes | None, headers: Headers) -> bool:
        """Store one message's event when it is for this console; whether it was."""
        try:
            event = self._codec.decode_any(value or b"")
        except DecodeError as exc:
            self.skipped += 1
            logger.warning("skipping an undecodable message (the edge dead-letters it): %s", exc)
            return False
        if not isinstance(event, Detection) or not self._mine(event):
            return False
        if self._keyring is not None:
            try:
                self._keyring.check(event, value or b"", headers)
            except AuthenticityError as exc:
                self.unauthenticated += 1
                logger.warning("skipping a detection (the cloud dead-letters it): %s", exc)
                return False
        image, error = self._image(event.image)
        views = [ViewImage(view.view_id, *self._image(view.image)) for view in event.views]
        self._queue.add_detection(event, image=image, image_error=error, views=views)
        return True

    def _image(self, link: ImageLink | None) -> tuple[bytes | None, str | None]:
        """The verified image a detection links to, or why there is none."""
        if link is None:
            return None, "the edge sent no image link (it runs without a frame store)"
        try:
            return self._images.link(link), None
        except ImageRejectedError as exc:
            return None, str(exc)

    def _mine(self, event: Detection) -> bool:
        return event.checkpoint == self._checkpoint and (
            not self._lanes or event.lane in self._lanes
        )
