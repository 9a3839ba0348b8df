"""Faust's table recovery, with the hand-over to the streams made safe.

When a worker has recovered its tables, Faust's ``Recovery.on_recovery_completed``
resumes the stream partitions, seeks them to their committed offsets and only then calls
``app.flow_control.resume()``, which *clears every agent's input queue*. The consumer's
flow is already running at that point (it was resumed to read the changelogs), so the
fetcher delivers stream events into those queues during the seek, and the clear throws
them away while their offsets stay consumed. A partition with a committed offset loses the
events fetched after the seek (a gap that also blocks its commits, faust-streaming #596);
a partition with no committed offset yet (a topic the group never read) loses the first
events of the partition for good. Seen here: a cloud worker restarted after ``kill -9``
dropped the first detections of several partitions, so their frames never joined their
verdicts.

:class:`OrderedRecovery` stops the consumer's flow before Faust's hand-over runs: the
fetcher then fetches nothing while partitions resume and seek, and Faust's own last step
(``consumer.resume_flow()``, after the clear) lets it fetch again from the positions the
seek set. :class:`OrderedTableManager` installs it through Faust's ``TableManager``
setting.
"""

from __future__ import annotations

from faust.tables import TableManager
from faust.tables.recovery import Recovery

__all__ = ["OrderedRecovery", "OrderedTableManager"]


class OrderedRecovery(Recovery):
    """Recovery whose hand-over to the streams fetches nothing until the queues are clear."""

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
