"""Reads the demo's topics into a :class:`~infra.demo.summary.DemoTally`, live.

The reader joins no consumer group: it ``assign()``s every partition from the offsets the
topics had when the demo started (a group join on the embedded broker takes seconds, and the
summary must not compete with the workers for partitions). A thread keeps the tally current
while the demo runs; at the end :meth:`EventReader.finish` reads up to the topics' ends, so
the final summary holds every event the run produced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from confluent_kafka import Consumer, TopicPartition

from infra.demo.summary import DemoSummary, DemoTally
from schemas.codec import Codec
from schemas.consume import reader_config
from schemas.exceptions import SchemaError

log = logging.getLogger(__name__)

#: Longest wait of one poll: the live view refreshes about this often at worst.
_POLL_S: Final = 0.2
#: Messages taken per poll.
_BATCH: Final = 500
#: Time a metadata or watermark request may take.
_REQUEST_TIMEOUT_S: Final = 10.0


def end_offsets(client: Mapping[str, Any], topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of ``topics`` at its current end: where a run's events begin, and how
    far the final read must go.

    Asked on a consumer of its own: on the reader's consumer each request would queue behind
    a pending fetch, which the broker holds for up to ``fetch.wait.max.ms``, half a second
    for every partition."""
    consumer = Consumer(reader_config(dict(client), name="leakguard-demo-offsets"))
    try:
        metadata = consumer.list_topics(timeout=_REQUEST_TIMEOUT_S)
        positions = []
        for topic in topics:
            for partition in metadata.topics[topic].partitions:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=_REQUEST_TIMEOUT_S
                )
                positions.append(TopicPartition(topic, partition, high))
        return positions
    finally:
        consumer.close()


class EventReader:
    """Tails ``positions`` into a tally on a thread; :meth:`summary` is safe from any thread."""

    def __init__(
        self,
        *,
        client: Mapping[str, Any],
        positions: Sequence[TopicPartition],
        codec: Codec | None = None,
    ) -> None:
        self._client = dict(client)
        self._consumer = Consumer(
            reader_config(
                self._client,
                name="leakguard-demo-summary",
                **{"fetch.message.max.bytes": 16 * 1024 * 1024},
            )
        )
        self._consumer.assign(list(positions))
        self._next: dict[tuple[str, int], int] = {
            (p.topic, p.partition): p.offset for p in positions
        }
        self._codec = codec if codec is not None else Codec()
        self._tally = DemoTally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-summary", daemon=True)

    def start(self) -> None:
        """Start tailing on the reader's thread."""
        self._thread.start()

    def summary(self) -> DemoSummary:
        """The tally as it stands."""
        with self._lock:
            return self._tally.summary()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()

    def _poll(self) -> None:
        for message in self._consumer.consume(num_messages=_BATCH, timeout=_POLL_S):
            if message.error() is not None:
                continue
            self._next[(message.topic(), message.partition())] = message.offset() + 1
            value = message.value()
            try:
                event = self._codec.decode_any(value) if value is not None else None
            except SchemaError:
                event = None
            if event is None:
                # The workers dead-letter such a message; the summary counts their letter.
                continue
            with self._lock:
                self._tally.add(event)

    def finish(self, *, timeout_s: float) -> DemoSummary:
        """Stop the thread, read every partition up to its end (at most ``timeout_s``), close
        the consumer and return the final summary."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        deadline = time.monotonic() + timeout_s
        try:
            ends = {
                (p.topic, p.partition): p.offset
                for p in end_offsets(self._client, sorted({topic for topic, _ in self._next}))
            }
            while time.monotonic() < deadline and any(
                self._next[key] < end for key, end in ends.items()
            ):
                self._poll()
        finally:
            self._consumer.close()
        return self.summary()
