"""The sink worker: analytics topics in, ClickHouse rows out, offsets committed after.

A thin loop over :class:`~sinks.clickhouse.batching.BatchingSink`: poll a batch of messages
from a confluent-kafka consumer (auto-commit off), decode each with
``Codec.decode_record`` (without logical types), map it with
:func:`~sinks.clickhouse.rows.rows_of`, buffer; insert a table alone when it is full, and
when the time bound is reached flush every table and commit exactly the offsets that
covered. Polling, decoding and dead letters follow :class:`schemas.consume.EventBatches`:
undecodable messages go to the dead-letter topic and their offsets are committed with the
batch, after the dead-letter producer has delivered them. So do events with a value the
store would refuse (a negative width, a time before 1970): the batching sink refuses them
before they are buffered, or finds them when the store refuses a block, and the worker
dead-letters them (``sinks.exceptions.ValuesRefusedError``, the message's own bytes) while
the rest of the batch lands.

When ClickHouse is down or out of disk the flush raises ``BackpressureError``: the worker
pauses its partitions (so memory stays bounded by the batch limits), keeps polling so it
stays in its consumer group, waits ``retry_after_s`` and tries again, indefinitely. Rows are
never lost (nothing is committed before the insert) and never doubled (a retried or
redelivered insert collapses by event id in ``ReplacingMergeTree``; queries read
``FINAL``). On a rebalance the
worker tries one flush and otherwise drops its buffer: the partitions' next owner starts
from the last commit. Lag per partition (high watermark minus committed offset) is exported
as the Prometheus gauge ``leakguard_sink_lag_messages`` and returned by :meth:`lag`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from leakguard.health import CheckResult, Checks
from schemas import Codec
from schemas.consume import DeadLettersUndeliveredError, EventBatches
from sinks.clickhouse.batching import BatchingSink, Refusal, TopicPartition
from sinks.clickhouse.rows import rows_of
from sinks.exceptions import BackpressureError, SinkError, ValuesRefusedError

__all__ = ["SinkWorker"]

logger = logging.getLogger(__name__)

#: Messages taken per poll: enough to fill a batch quickly, few enough to stay responsive.
CONSUME_BATCH_MESSAGES: Final = 1000
#: How long one poll waits for messages when the topics are idle.
POLL_TIMEOUT_S: Final = 0.2
#: Lag (a Prometheus gauge) is refreshed at most this often: scrapes come every 15 s or so.
LAG_REFRESH_S: Final = 5.0


class SinkWorker:
    """Consumes the analytics topics into the analytics store; see the module docstring.

    Keyword-only options: ``consumer`` (a confluent-kafka ``Consumer`` with
    ``enable.auto.commit=false``), ``sink`` (the batches), ``topic_events`` (topic name ->
    event type it carries), ``producer`` and ``dead_letter_topic`` (where undecodable
    messages go), ``worker_id``, ``codec`` and ``registry`` (Prometheus; a private one when
    absent, so tests and several workers in one process never share metrics).
    """

    def __init__(
        self,
        *,
        consumer: Any,
        sink: BatchingSink,
        topic_events: Mapping[str, str],
        producer: Any,
        dead_letter_topic: str,
        worker_id: str = "clickhouse-sink",
        codec: Codec | None = None,
        registry: CollectorRegistry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._consumer = consumer
        self._batches = EventBatches(
            consumer=consumer,
            producer=producer,
            routes=topic_events,
            dead_letter_topic=dead_letter_topic,
            worker_id=worker_id,
            codec=codec,
            batch_messages=CONSUME_BATCH_MESSAGES,
            poll_timeout_s=POLL_TIMEOUT_S,
        )
        self._sink = sink
        self._sleep = sleep
        self.registry = registry if registry is not None else CollectorRegistry()
        self._lag_gauge = Gauge(
            "leakguard_sink_lag_messages",
            "Messages on the partition not yet committed by the sink.",
            ("topic", "partition"),
            registry=self.registry,
        )
        self._rows_total = Counter(
            "leakguard_sink_rows", "Rows inserted per table.", ("table",), registry=self.registry
        )
        self._retries_total = Counter(
            "leakguard_sink_insert_retries",
            "Flushes retried after back-off.",
            registry=self.registry,
        )
        self._dead_letters_total = Counter(
            "leakguard_sink_dead_letters", "Messages sent to dead letters.", registry=self.registry
        )
        self._committed: dict[TopicPartition, int] = {}
        self._lag_at = -LAG_REFRESH_S
        self._store_refusal: str | None = None

    @property
    def topics(self) -> list[str]:
        """The analytics topics the worker reads."""
        return self._batches.topics

    def subscribe(self) -> None:
        """Join the consumer group on every analytics topic."""
        self._batches.subscribe(on_assign=self._on_assign, on_revoke=self._on_revoke)

    def checks(self) -> Checks:
        """Health of the consuming loop (:meth:`schemas.consume.EventBatches.checks`) and
        the readiness check ``analytics_store``: the last insert went through (none yet
        counts), else why the sink is backing off."""

        def store() -> CheckResult:
            if self._store_refusal is None:
                return CheckResult(True, "inserts go through")
            return CheckResult(False, f"inserts fail, backing off: {self._store_refusal}")

        return self._batches.checks() | Checks(ready={"analytics_store": store})

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; then flush what it can and close the consumer."""
        self.subscribe()
        try:
            while not stop.is_set():
                self.step(stop)
            self._final_flush()
        finally:
            self._consumer.close()

    def step(self, stop: threading.Event | None = None) -> int:
        """One poll and, when due, one flush with its commit. Returns messages polled."""
        messages = self._batches.poll()
        for message in messages:
            self._take(message)
        if self._sink.due():
            self._flush_until_written(stop, only_full=False)
        elif self._sink.full():
            self._flush_until_written(stop, only_full=True)
        return len(messages)

    def _take(self, message: Any) -> None:
        """Buffer the rows of ``message``; a dead-lettered one still advances its offset."""
        decoded = self._batches.record(message, logical_types=False)
        if decoded is None:
            self._dead_letters_total.inc()
        rows = [] if decoded is None else rows_of(*decoded)
        source = (message.topic(), message.partition())
        refusal = self._sink.add(source, message.offset(), rows, origin=message)
        if refusal is not None:
            self._dead_letter_refused([refusal])

    def _dead_letter_refused(self, refusals: Sequence[Refusal]) -> None:
        """Send each message with a refused row to dead letters once (a detection may have
        several refused objects)."""
        messages = {id(refusal.origin): refusal for refusal in refusals}
        for refusal in messages.values():
            error = ValuesRefusedError(f"{refusal.table}: {refusal.reason}")
            self._batches.dead_letter(refusal.origin, error)
            self._dead_letters_total.inc()

    def _flush_until_written(self, stop: threading.Event | None, *, only_full: bool) -> None:
        """Flush (and commit unless ``only_full``), backing off while the store is
        unavailable (partitions paused)."""
        paused: list[Any] = []
        try:
            while True:
                try:
                    self._flush_and_commit(only_full=only_full)
                    self._store_refusal = None
                    return
                except BackpressureError as exc:
                    self._store_refusal = str(exc)
                    self._retries_total.inc()
                    logger.warning("analytics store unavailable: %s", exc)
                    if not paused:
                        paused = list(self._consumer.assignment())
                        self._consumer.pause(paused)
                    self._wait(exc.retry_after_s)
                    if stop is not None and stop.is_set():
                        return
                    if not self._sink.pending_offsets:  # revoked meanwhile: nothing to write
                        return
        finally:
            if paused:
                self._consumer.resume(paused)

    def _wait(self, seconds: float) -> None:
        """Wait while polling: paused partitions return nothing, the group membership stays."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._batches.heartbeat.beat()  # backing off is the loop turning, not stuck
            message = self._consumer.poll(min(left, POLL_TIMEOUT_S))
            if message is not None and self._batches.usable(message):
                # A partition assigned during the wait is not paused: keep its message.
                self._take(message)

    def _flush_and_commit(self, *, only_full: bool = False) -> None:
        result = self._sink.flush(only_full=only_full)
        for table, count in result.rows.items():
            self._rows_total.labels(table=table).inc(count)
        self._dead_letter_refused(result.refused)
        if only_full:
            return
        self._batches.commit(result.offsets)
        self._committed.update(result.offsets)
        if time.monotonic() - self._lag_at >= LAG_REFRESH_S:
            self.lag()

    def _final_flush(self) -> None:
        try:
            self._flush_and_commit()
        except BackpressureError as exc:
            logger.warning("stopping with %s; they will be read again", exc)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        logger.info("assigned %d partitions", len(partitions))

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Write what is buffered if the store answers; else the next owner re-reads it."""
        try:
            self._flush_and_commit()
        except (SinkError, DeadLettersUndeliveredError) as exc:
            logger.warning("partitions revoked with an unwritten batch (%s): discarded", exc)
            self._sink.discard()
        for partition in partitions:
            self._committed.pop((partition.topic, partition.partition), None)

    def lag(self) -> dict[TopicPartition, int]:
        """Messages per assigned partition not yet committed (high watermark - committed).

        Uses the high watermarks of the latest fetch responses (asking the broker per
        partition costs a round trip each); a partition not fetched from yet is left out.
        Before its first commit here, a partition counts from where this worker resumed.
        """
        self._lag_at = time.monotonic()
        lags: dict[TopicPartition, int] = {}
        assignment = self._consumer.assignment()
        positions = {(p.topic, p.partition): p.offset for p in self._consumer.position(assignment)}
        for partition in assignment:
            key = (partition.topic, partition.partition)
            _, high = self._consumer.get_watermark_offsets(partition, cached=True)
            # Not committed by this worker yet: the fetch position is where it resumed.
            done = self._committed.get(key, positions.get(key, -1))
            if high < 0 or done < 0:
                continue
            lags[key] = max(high - done, 0)
            self._lag_gauge.labels(topic=key[0], partition=str(key[1])).set(lags[key])
        return lags
