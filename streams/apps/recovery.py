"""Faust's table recovery, made to end where the changelog really ends and to hand over to
the streams safely.

**Where a changelog ends.** Faust reads each changelog partition up to the end offset the
broker reports (``ListOffsets``). Tansu reports the *last batch's base offset + 1*, not
the offset after its last record: after a 5-record and a 3-record batch it says 6, not 8.
Recovery would then stop after the first record of the last batch and the worker would run
without the rest of it. :meth:`OrderedRecovery._build_highwaters` reads the true end
instead (:func:`read_end_offsets`): a fetch from the reported end - 1 returns that whole
last batch, whose last offset + 1 is the end. On a broker that reports the end correctly
the fetch returns the one record before it, and the end stays what was reported. This is
what lets the workers produce in batches of more than one record.

**The hand-over.** When a worker has recovered its tables, Faust's
``Recovery.on_recovery_completed`` resumes the stream partitions, seeks them to their
committed offsets and only then calls ``app.flow_control.resume()``, which *clears every
agent's input queue*. The consumer's flow is already running at that point (it was resumed
to read the changelogs), so the fetcher delivers stream events into those queues during
the seek, and the clear throws them away while their offsets stay consumed. A partition
with a committed offset loses the events fetched after the seek (a gap that also blocks its
commits, faust-streaming #596); a partition with no committed offset yet (a topic the group
never read) loses the first events of the partition for good. Seen here: a cloud worker
restarted after ``kill -9`` dropped the first detections of several partitions, so their
frames never joined their verdicts. :class:`OrderedRecovery` stops the consumer's flow
before Faust's hand-over runs: the fetcher then fetches nothing while partitions resume and
seek, and Faust's own last step (``consumer.resume_flow()``, after the clear) lets it fetch
again from the positions the seek set.

:class:`OrderedTableManager` installs :class:`OrderedRecovery` through Faust's
``TableManager`` setting.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth, server_list
from faust.types import TP, AppT, ConsumerT

__all__ = ["OrderedRecovery", "OrderedTableManager", "end_reader", "read_end_offsets"]

log = logging.getLogger(__name__)

#: Tansu holds a fetch for its whole max wait even when the records are there; the reader
#: wants one batch per partition, so it waits little per fetch (Faust's own waits 1.5 s).
END_READER_FETCH_WAIT_MS: Final[int] = 10
#: How long one poll of the end reader waits before it polls again.
END_READER_POLL_MS: Final[int] = 200


def end_reader(app: AppT) -> AIOKafkaConsumer:
    """A group-less consumer on the app's brokers, with its credentials, for
    :func:`read_end_offsets`."""
    conf = app.conf
    return AIOKafkaConsumer(
        bootstrap_servers=server_list(conf.broker, 9092),
        client_id=f"{conf.broker_client_id}-end-reader",
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=END_READER_FETCH_WAIT_MS,
        max_partition_fetch_bytes=conf.consumer_max_fetch_size,
        request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
        **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    )


async def read_end_offsets(
    reader: Callable[[], AIOKafkaConsumer], reported: Mapping[TP, int]
) -> dict[TP, int]:
    """The end offset (last offset + 1) of each partition, read from its records.

    ``reported`` is the end the broker reports for each partition; ``reader`` makes the
    group-less consumer that reads (:func:`end_reader`), made only when a partition has
    records. It fetches each non-empty partition from its reported end - 1: the broker
    returns whole batches, so the first fetch holds the last batch the report counted, and
    its last record is the end. Waits until every such partition has answered (bound it
    with a timeout: an unreadable partition never does).
    """
    ends = dict(reported)
    pending = {
        TopicPartition(tp.topic, tp.partition): tp for tp, end in reported.items() if end > 0
    }
    if not pending:
        return ends
    consumer = reader()
    await consumer.start()
    try:
        consumer.assign(list(pending))
        for partition, tp in pending.items():
            consumer.seek(partition, reported[tp] - 1)
        while pending:
            fetched = await consumer.getmany(*pending, timeout_ms=END_READER_POLL_MS)
            for partition, records in fetched.items():
                if records:
                    tp = pending.pop(partition)
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
    finally:
        await consumer.stop()
    return ends


class OrderedRecovery(Recovery):
    """Recovery that reads each changelog to its true end and whose hand-over to the
    streams fetches nothing until the queues are clear."""

    async def _build_highwaters(
        self, consumer: ConsumerT, tps: set[TP], destination: Counter[TP], title: str
    ) -> None:
        """Faust's highwaters (the last offset of each partition), corrected by reading
        where the broker's reported end falls short."""
        await super()._build_highwaters(consumer, tps, destination, title)
        # Faust stores the last offset (end - 1), -1 for an empty partition.
        reported = {tp: destination[tp] + 1 for tp in tps}
        ends = await read_end_offsets(lambda: end_reader(self.app), reported)
        for tp, end in ends.items():
            if end != reported[tp]:
                log.info("changelog %s ends at %d, not at the %d reported", tp, end, reported[tp])
            destination[tp] = end - 1

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Stop the consumer's flow, then let Faust resume, seek, clear and resume the flow."""
        self.app.consumer.stop_flow()
        await super().on_recovery_completed(generation_id)


class OrderedTableManager(TableManager):
    """Faust's table manager with :class:`OrderedRecovery` as its recovery service."""

    @property
    def recovery(self) -> Recovery:
        """The recovery service (created on first use, like Faust's)."""
        if self._recovery is None:
            self._recovery = OrderedRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
