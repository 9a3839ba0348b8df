"""The cloud app: the outcome join, alerts, the frame store and the annotation queue.

One agent reads ``detections``, ``guard.verdicts`` (and every configured site's copies of
both, :attr:`WorkerConfig.site_topics`) and the app's own ``-expiry`` topic together (all
keyed by frame id, same partition count), so every event about one frame reaches the same
partition of one worker, and the join table (a Faust table in memory,
recovered from its changelog after a restart) sees them in arrival order. The agent takes
them in batches and writes a batch's table entries only once the broker has its outputs
(:meth:`CloudApp.handle_batch` says why). The decision is :mod:`streams.join`'s; this
module only moves events:

* a resolved threat image projection frame produces its ``TipResult`` and nothing else
  (no outcome, alert, kept image or annotation task: #20);
* a resolved frame produces one ``Outcome`` per object, an ``Alert`` when it has
  true-positive media, keeps its image in the frame store when it has a TP, FP or FN
  outcome, and produces an ``AnnotationTask`` per mistake kind;
* a timer looks for frames past the review deadline and sends a tick for each through the
  ``-expiry`` topic, because Faust lets only a stream's own events modify a table;
* a second timer deletes frame store images past their retention (``sweep``), staged
  frames the edge wrote included, so the store does not grow without bound;
* undecodable events, events on the wrong topic, events with a NaN or infinite number (it
  would reach the outcomes, the alert and the control centre), detections and verdicts
  without a valid producer tag (with a keyring, :mod:`schemas.authenticity`) and frames
  whose image cannot be kept go to the dead-letter topic; the agent goes on. With a
  keyring, what the worker produces is tagged with its ``cloud:*`` key, and so are the
  join table's entries (a :class:`~schemas.authenticity.Seal`): the table is recovered
  from its changelog topic, and an entry written there by anyone else is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import faust
from faust.serializers import codecs
from mode import CrashingSupervisor

from leakguard.logs import about
from schemas.authenticity import AuthenticityError, EventKeyring, Seal, Tagger
from schemas.codec import Codec
from schemas.events import (
    Alert,
    AnnotationTask,
    Detection,
    Event,
    GuardVerdict,
    ImageLink,
    Outcome,
    TipResult,
)
from schemas.numbers import non_finite_field
from streams.apps.common import (
    DeadLetters,
    build_faust_app,
    event_keyring,
    producer_tagger,
    raw_value,
)
from streams.config import WorkerConfig
from streams.exceptions import FrameStoreError, StreamsError
from streams.faust_codec import AvroEventCodec, Undecodable
from streams.frame_store import FrameStore
from streams.join import Resolution, is_due, on_event, on_tick
from streams.join_state import FrameEntry, FrameEntryError
from streams.logic.alerts import build_alert
from streams.logic.annotation import build_annotation_tasks, needs_image
from streams.logic.outcomes import join_key
from streams.metrics import WorkerMetrics

__all__ = [
    "JOIN_BATCH",
    "JOIN_BATCH_WITHIN_S",
    "PRODUCER_LINGER_MS",
    "CloudApp",
    "ExpiryTick",
    "JoinCodec",
    "build_cloud_app",
    "keep_image",
]

log = logging.getLogger(__name__)

#: Marks an expiry tick on the internal topic; cannot start an Avro single-object message.
TICK_MARKER: Final[bytes] = b"\x00LGTICK\x00"
#: Name of the join table; its changelog is ``<app id>-frames-changelog``.
JOIN_TABLE: Final[str] = "frames"
#: Most events the join takes at once. A batch's outputs are awaited before its table entries
#: are written (see :meth:`CloudApp.handle_batch`), so larger batches mean fewer waits.
JOIN_BATCH: Final[int] = 256
#: Longest the join waits to fill a batch: what a lone event's latency grows by.
JOIN_BATCH_WITHIN_S: Final[float] = 0.01
#: How long the producer waits to fill a request. Safe at any value because a batch's
#: outputs are delivered before its resolved entries are even produced: the changelog can
#: never say "resolved" for a frame whose outcomes the broker does not have.
PRODUCER_LINGER_MS: Final[int] = 5


@dataclass(frozen=True, slots=True)
class ExpiryTick:
    """ "Check this frame's deadline now" (the join key of one table entry)."""

    key: bytes


class JoinCodec(codecs.Codec):
    """Any leakguard event (via :class:`AvroEventCodec`), plus :class:`ExpiryTick` on the
    app's internal topic."""

    def __init__(self, children: tuple[Any, ...] | None = None, *, codec: Codec) -> None:
        super().__init__(children, codec=codec)  # Faust's clone() rebuilds from kwargs
        self._events = AvroEventCodec(codec=codec)

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, ExpiryTick):
            return TICK_MARKER + obj.key
        return self._events._dumps(obj)

    def _loads(self, s: bytes) -> Event | Undecodable | ExpiryTick:
        if bytes(s[: len(TICK_MARKER)]) == TICK_MARKER:
            return ExpiryTick(key=bytes(s[len(TICK_MARKER) :]))
        return self._events._loads(s)


def _frame_id(key: bytes) -> bytes:
    """The Kafka key (frame id) of a join key: the tick must land on the frame's partition."""
    return key.rsplit(b"\x1f", 1)[-1]


async def keep_image(store: FrameStore, detection: Detection) -> ImageLink:
    """Keep the frame's staged image: on the event loop for a local store, whose keep (a hard
    link) is far cheaper than an executor hand-off, in the executor for a remote one, which
    would block the loop for a round trip."""

    def keep() -> ImageLink:
        return store.keep(
            checkpoint=detection.checkpoint,
            lane=detection.lane,
            frame_id=detection.frame_id,
            sha256=None if detection.image is None else detection.image.sha256,
        )

    if store.is_local:
        return keep()
    return await asyncio.get_running_loop().run_in_executor(None, keep)


@dataclass
class _Batch:
    """What one batch of the join did so far: the entries it changed (key: the event's
    partition and the new entry, None to delete), not yet in the table, and the deliveries
    of its outputs."""

    changes: dict[bytes, tuple[int, FrameEntry | None]] = field(default_factory=dict)
    deliveries: list[Awaitable[Any]] = field(default_factory=list)


@dataclass
class CloudApp:
    """The Faust app with its collaborators, for the worker runner and tests."""

    app: faust.App
    config: WorkerConfig
    codec: Codec
    store: FrameStore
    metrics: WorkerMetrics
    table: Any
    expiry: Any
    dead_letters: DeadLetters
    keyring: EventKeyring | None = None
    tag: Tagger | None = None
    seal: Seal | None = None
    alert_ids: Seal | None = None

    def _expected_type(self, topic: str) -> type[Detection] | type[GuardVerdict] | None:
        if topic in self.config.detection_topics():
            return Detection
        if topic in self.config.verdict_topics():
            return GuardVerdict
        return None

    async def handle_batch(self, events: Sequence[Any]) -> None:
        """A batch of the joined stream: update the table, publish what resolves.

        Outputs first, table entries after: the outputs (outcomes, alerts, annotation tasks)
        are produced while the events are handled and awaited until the broker has them, and
        only then does each changed entry go to the table and its changelog, once per frame
        (a detection and its verdict in one batch write only "resolved"). A crash before
        that replays the batch (its offsets are not committed: Faust flushes the producer
        and commits only after the agent acked the events), which may repeat outputs but
        never loses them; were the entries written first, a restarted worker would recover
        "resolved" for a frame whose outcomes never reached the broker and drop the replay
        as a duplicate. Any error of one event is that event's dead letter (reason and
        original bytes), never the agent's: one event cannot stop the join.
        """
        batch = _Batch()
        for event in events:
            try:
                await self.handle(event, batch)
            except Exception as exc:
                message = event.message
                where = about(
                    topic=message.topic, partition=message.partition, offset=message.offset
                )
                log.exception("event at %s:%s failed", message.topic, message.offset, extra=where)
                self.dead_letters.send(event.message, raw_value(event.message), exc)
        await asyncio.gather(*batch.deliveries)
        for key, (partition, entry) in batch.changes.items():
            self._write(key, partition, entry)

    async def handle(self, event: Any, batch: _Batch) -> None:
        """One event of the joined stream: its table change and outputs go into ``batch``."""
        self.metrics.join_events_in.inc()
        value, message = event.value, event.message
        now = time.time()
        if isinstance(value, Undecodable):
            self.dead_letters.send(message, value.original, value.error)
            return
        if isinstance(value, ExpiryTick):
            key = value.key
            state = self._entry(key, message.partition, batch)
            step = on_tick(
                state,
                now=now,
                unreviewed_after_s=self.config.unreviewed_after_s,
                resolved_retention_s=self.config.resolved_retention_s,
                codec=self.codec,
            )
        else:
            expected = self._expected_type(message.topic)
            if expected is None or not isinstance(value, expected):
                error = StreamsError(f"{type(value).__name__} does not belong on {message.topic}")
                self.dead_letters.send(message, raw_value(message), error)
                return
            if self.keyring is not None:
                try:
                    self.keyring.check(value, raw_value(message), message.headers)
                except AuthenticityError as exc:
                    self.metrics.events_unauthenticated.inc()
                    self.dead_letters.send(message, raw_value(message), exc)
                    return
            if (field := non_finite_field(value)) is not None:
                error = StreamsError(f"{type(value).__name__}.{field} is not a finite number")
                self.dead_letters.send(message, raw_value(message), error)
                return
            key = join_key(
                checkpoint=value.checkpoint, lane=value.lane, frame_id=value.frame_id
            ).encode()
            state = self._entry(key, message.partition, batch)
            step = on_event(state, value, raw_value(message), now=now, codec=self.codec)
            if step.note == "late_verdict":
                log.info("verdict for %s came after it went unreviewed; ignored", value.frame_id)
        if step.resolution is not None:
            await self.publish(step.resolution, message, batch)
        if step.state is not state and (step.state is not None or state is not None):
            batch.changes[key] = (message.partition, step.state)

    def _write(self, key: bytes, partition: int, entry: FrameEntry | None) -> None:
        """Put ``entry`` (None: delete) in the table and its changelog partition, the one of
        the event that changed it (the frame's partition: every event of a frame has it).

        Through the table's store and ``send_changelog`` rather than ``table[key] = ...``,
        which takes the partition from Faust's "current event": after a batch that is
        the batch's last event, not this frame's.
        """
        if entry is None:
            if self.table.data.pop(key, None) is not None:
                self.table.send_changelog(partition, key, None, value_serializer="raw")
            return
        data = entry.to_bytes()
        value = data if self.seal is None else self.seal.seal(data)
        self.table.data[key] = value
        self.table.send_changelog(partition, key, value)

    def _entry(self, key: bytes, partition: int, batch: _Batch) -> FrameEntry | None:
        """The entry of ``key`` (on ``partition``): as ``batch`` left it, else the join
        table's (which holds each entry's changelog bytes).

        Bytes that are no entry (written to the changelog topic by someone else: the table
        is recovered from it), or with a keyring not sealed by this worker's key, are
        dropped, so the event goes on as the frame's first rather than being lost with the
        bad state.
        """
        if key in batch.changes:
            return batch.changes[key][1]
        data = self.table.get(key)
        if data is None:
            return None
        try:
            return self._parse(data)
        except (FrameEntryError, AuthenticityError) as exc:
            log.error("join entry %r is not an entry (%s): dropped", key, exc)
            batch.changes[key] = (partition, None)
            self.metrics.join_entries_dropped.inc()
            return None

    async def publish(self, resolution: Resolution, message: Any, batch: _Batch) -> None:
        """Produce the outcomes, the alert, the kept image and the annotation tasks; their
        deliveries join ``batch``'s."""
        detection, verdict, outcomes = resolution.detection, resolution.verdict, resolution.outcomes
        frame_key = detection.frame_id.encode()
        if resolution.tip is not None:
            await self._produce(self.config.topics.tip_results, frame_key, resolution.tip, batch)
            self.metrics.tip_results.labels(result=resolution.tip.result).inc()
            return
        for outcome in outcomes:
            await self._produce(self.config.topics.outcomes, frame_key, outcome, batch)
            self.metrics.outcomes.labels(kind=outcome.kind).inc()
        if verdict is None:
            return
        alert = build_alert(detection, verdict, outcomes, ids=self.alert_ids)
        if alert is not None:
            await self._produce(
                self.config.topics.alerts, detection.checkpoint.encode(), alert, batch
            )
            self.metrics.alerts.inc()
        if not needs_image(outcomes):
            return
        try:
            link = await keep_image(self.store, detection)
        except FrameStoreError as exc:
            self.dead_letters.send(message, raw_value(message), exc)
            return
        for task in build_annotation_tasks(detection, verdict, outcomes, image=link):
            await self._produce(self.config.topics.annotation_tasks, frame_key, task, batch)
            self.metrics.annotation_tasks.inc()

    async def _produce(
        self,
        topic: str,
        key: bytes,
        event: Outcome | Alert | AnnotationTask | TipResult,
        batch: _Batch,
    ) -> None:
        """Encode ``event``, hand it to the app's producer, and add its delivery to
        ``batch``'s.

        Not through a Faust topic's ``send``, whose per-message future, channel and sensor
        steps cost more than the encoding, for every outcome, alert and annotation task.
        """
        value = self.codec.encode(event)
        headers = None if self.tag is None else self.tag(value)
        delivery = await self.app.producer.send(
            topic, key, value, partition=None, timestamp=None, headers=headers
        )
        batch.deliveries.append(delivery)

    async def sweep_frames(self) -> int:
        """Delete frame images past their retention (off the event loop); returns how many.

        A store that cannot be listed or cleaned is logged, never fatal: the next sweep
        tries again, and the join must not stop over housekeeping.
        """
        loop = asyncio.get_running_loop()
        try:
            removed = await loop.run_in_executor(None, self.store.sweep)
        except FrameStoreError as exc:
            log.warning("frame store sweep failed (retried next interval): %s", exc)
            return 0
        self.metrics.frames_swept.inc(removed)
        return removed

    def _parse(self, data: bytes) -> FrameEntry:
        return FrameEntry.from_bytes(data if self.seal is None else self.seal.open(data))

    def _due(self, data: bytes | None, now: float) -> bool:
        """Whether an entry's deadline has passed; bytes that are no entry are due too, so
        their tick drops them (:meth:`_entry`)."""
        if data is None:
            return False
        try:
            entry = self._parse(data)
        except (FrameEntryError, AuthenticityError):
            return True
        return is_due(
            entry,
            now=now,
            unreviewed_after_s=self.config.unreviewed_after_s,
            resolved_retention_s=self.config.resolved_retention_s,
        )

    async def send_due_ticks(self) -> int:
        """Send an expiry tick for every local entry whose deadline has passed."""
        now = time.time()
        due = [key for key, data in list(self.table.items()) if self._due(data, now)]
        for key in due:
            await self.expiry.send(key=_frame_id(key), value=ExpiryTick(key=key))
        return len(due)


def build_cloud_app(
    config: WorkerConfig,
    *,
    store: FrameStore | None = None,
    metrics: WorkerMetrics | None = None,
    codec: Codec | None = None,
) -> CloudApp:
    """The cloud Faust app; the frame store is opened at ``config.frame_store_url`` if absent."""
    codec = codec if codec is not None else Codec()
    metrics = metrics if metrics is not None else WorkerMetrics()
    app = build_faust_app(config, producer_linger_ms=PRODUCER_LINGER_MS)
    join_codec = JoinCodec(codec=codec)
    joined = app.topic(
        *config.detection_topics(),
        *config.verdict_topics(),
        config.expiry_topic,
        key_serializer="raw",
        value_serializer=join_codec,
    )

    # key_type=bytes is what makes Faust use the raw serializer for the keys of the table
    # *and* of its changelog, both ways: a ``schema=`` here only governs writes, so the
    # changelog could be written but not read back (recovery stalled after a restart).
    # value_type=bytes does the same for the values: Faust picks a table's serializer only
    # from its value type, so the table holds FrameEntry.to_bytes() and the changelog gets
    # exactly those bytes.
    table = app.Table(
        JOIN_TABLE,
        default=None,
        partitions=config.join_partitions,
        key_type=bytes,
        value_type=bytes,
    )
    keyring = event_keyring(config)
    cloud = CloudApp(
        app=app,
        config=config,
        codec=codec,
        store=store
        if store is not None
        else FrameStore(
            config.frame_store_url,
            staging_retention_s=config.staging_retention_s,
            kept_retention_s=config.kept_retention_s,
        ),
        metrics=metrics,
        table=table,
        expiry=app.topic(config.expiry_topic, key_serializer="raw", value_serializer=join_codec),
        dead_letters=DeadLetters(app, config, metrics, codec),
        keyring=keyring,
        tag=producer_tagger(keyring, config, "cloud"),
        seal=None if keyring is None else keyring.seal("cloud", config.checkpoint, JOIN_TABLE),
        alert_ids=None if keyring is None else keyring.seal("cloud", config.checkpoint, "alert-id"),
    )

    # A crash that escapes the agent ends the worker for its supervisor to restart, instead
    # of leaving a live process that joins nothing.
    @app.agent(joined, name="outcome-join", supervisor_strategy=CrashingSupervisor)
    async def outcome_join(stream: Any) -> None:
        async for events in stream.noack_take(JOIN_BATCH, JOIN_BATCH_WITHIN_S):
            await cloud.handle_batch(events)
            for event in events:
                await stream.ack(event)

    async def review_deadline() -> None:
        await cloud.send_due_ticks()

    app.timer(interval=config.expiry_check_s, name="review-deadline")(review_deadline)

    async def frame_retention() -> None:
        await cloud.sweep_frames()

    # Every cloud worker sweeps (no leader election here, see common.py); sweeps are
    # idempotent and tolerate each other.
    app.timer(interval=config.frame_sweep_interval_s, name="frame-retention")(frame_retention)

    return cloud
