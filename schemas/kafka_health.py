"""What every consumer's operations endpoint says about Kafka: the group's lag and whether
the broker answers.

Lag is measured the way ``kafka-consumer-groups --describe`` does it, from the broker's
side: for every partition of the group's topics, the end offset minus the offset the group
committed (everything retained, for a partition it never committed). A side consumer that
joins no group asks for both in a daemon thread, so the figure is the same for Faust and
confluent-kafka workers, needs nothing from their loops, and keeps growing when a worker is
stuck, which is exactly when it matters. Every member of a group reports the whole group's
lag (alert on ``max by (group, topic, partition)``).

The readiness check :func:`broker_check` asks the cluster for its metadata through any
confluent-kafka client, at most once per :data:`BROKER_CHECK_TTL_S`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from prometheus_client import CollectorRegistry, Gauge

from leakguard.health import CheckResult, Probe, cached

__all__ = ["BROKER_CHECK_TTL_S", "GroupLag", "broker_check"]

log = logging.getLogger(__name__)

#: How often the lag is measured: Prometheus scrapes every 15 s or so, and each round costs
#: one metadata, one committed-offsets and one end-offset request per partition.
LAG_INTERVAL_S: Final[float] = 5.0
#: How long one request may take before the round is given up (the broker is not answering).
REQUEST_TIMEOUT_S: Final[float] = 5.0
#: A broker answer is reused this long: probes come every few seconds, each would cost a
#: metadata round trip.
BROKER_CHECK_TTL_S: Final[float] = 2.0
#: The longest a broker check waits for the metadata: a probe must answer within seconds.
BROKER_CHECK_TIMEOUT_S: Final[float] = 3.0
#: librdkafka's "no committed offset" (OFFSET_INVALID).
_NO_OFFSET: Final[int] = -1001


class GroupLag:
    """The lag of consumer group ``group`` on ``topics``, as the Prometheus gauge
    ``leakguard_consumer_lag{group,topic,partition}`` in ``registry`` (one per registry).

    ``client`` is the confluent-kafka configuration (``bootstrap.servers`` and the cluster's
    security settings); ``consumer_factory`` builds the side consumer from it (default
    :class:`confluent_kafka.Consumer`). :meth:`start` measures every ``interval_s`` until
    :meth:`stop`; :meth:`measure` is one round.
    """

    def __init__(
        self,
        *,
        client: Mapping[str, Any],
        group: str,
        topics: Sequence[str],
        registry: CollectorRegistry,
        interval_s: float = LAG_INTERVAL_S,
        consumer_factory: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        if consumer_factory is None:
            from confluent_kafka import Consumer

            consumer_factory = Consumer
        # The group's own id, as committed() asks for the offsets of its consumer's group;
        # never subscribing, this consumer never joins the group nor commits for it.
        self.consumer = consumer_factory({**client, "group.id": group, "enable.auto.commit": False})
        self.group = group
        self.topics = tuple(topics)
        self._interval_s = interval_s
        self._gauge = Gauge(
            "leakguard_consumer_lag",
            "Messages of a partition after its consumer group's committed offset",
            ("group", "topic", "partition"),
            registry=registry,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consumer-lag", daemon=True)

    def start(self) -> GroupLag:
        """Measure in a daemon thread from now on; returns itself."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the thread and close the side consumer."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(REQUEST_TIMEOUT_S * 3)
        self.consumer.close()

    def measure(self) -> dict[tuple[str, int], int]:
        """One round: ``(topic, partition) -> lag``, also set on the gauge. Raises
        confluent-kafka's ``KafkaException`` when the broker does not answer."""
        from confluent_kafka import TopicPartition

        metadata = self.consumer.list_topics(timeout=REQUEST_TIMEOUT_S)
        partitions = [
            TopicPartition(topic, partition)
            for topic in self.topics
            if topic in metadata.topics
            for partition in metadata.topics[topic].partitions
        ]
        lags: dict[tuple[str, int], int] = {}
        for tp in self.consumer.committed(partitions, timeout=REQUEST_TIMEOUT_S):
            low, high = self.consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=REQUEST_TIMEOUT_S
            )
            done = low if tp.offset == _NO_OFFSET or tp.offset < 0 else tp.offset
            lags[(tp.topic, tp.partition)] = lag = max(high - done, 0)
            self._gauge.labels(group=self.group, topic=tp.topic, partition=str(tp.partition)).set(
                lag
            )
        return lags

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.measure()
            except Exception as exc:  # the broker may be down: measure again next round
                log.warning("consumer lag of %s not measured: %s", self.group, exc)
            self._stop.wait(self._interval_s)


def broker_check(client: Any, *, ttl_s: float = BROKER_CHECK_TTL_S) -> Probe:
    """A readiness check: ``client`` (any confluent-kafka client) gets the cluster's
    metadata within :data:`BROKER_CHECK_TIMEOUT_S`, naming the brokers it found."""

    def reachable() -> CheckResult:
        try:
            metadata = client.list_topics(timeout=BROKER_CHECK_TIMEOUT_S)
        except Exception as exc:  # KafkaException, or RuntimeError once the client is closed
            return CheckResult(False, f"broker not reachable: {exc}")
        if not metadata.brokers:
            return CheckResult(False, "broker not reachable: metadata names no broker")
        return CheckResult(True, f"{len(metadata.brokers)} broker(s) answer")

    return cached(reachable, ttl_s=ttl_s)
