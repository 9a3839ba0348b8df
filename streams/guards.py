"""Simulated guards for demos and tests: they see the ground truth the simulator
publishes on ``scanner.frames`` and answer each ``Detection`` with a ``GuardVerdict`` after a
human-like delay, by :class:`~streams.logic.guard_policy.GuardPolicy`.

Several guards (policies with their own ``guard_id`` and miss rate) share the lanes: each
lane is staffed by one guard, given out in turn as lanes first appear, so a demo with
guards of different miss rates shows whether the threat image projection measure tells
them apart (#20). A projected medium (``Detection.tip``) is one more true medium for the
guard, who may find or overlook it like any other.

:class:`GuardDesk` is the Kafka-free core (remember ground truth, schedule answers, hand out
the due ones); :func:`run_guards` drives it with a confluent-kafka consumer and producer.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from confluent_kafka import Consumer, Producer

from schemas.authenticity import Tagger
from schemas.codec import Codec
from schemas.events import Detection, GuardVerdict, LabeledBox, ScanFrame, now_ms
from schemas.exceptions import DecodeError
from schemas.topics import Topics
from streams.exceptions import StreamsConfigError
from streams.logic.guard_policy import GuardPolicy

__all__ = ["GuardDesk", "run_guards"]

#: Ground truth kept for this many recent frames: far more than guards have in flight.
MAX_REMEMBERED_FRAMES: Final[int] = 10_000


class GuardDesk:
    """Ground truth by frame, the guard at each lane, and the verdicts waiting for their
    moment."""

    def __init__(
        self, *, policies: Sequence[GuardPolicy], max_frames: int = MAX_REMEMBERED_FRAMES
    ) -> None:
        if not policies:
            raise StreamsConfigError("a guard desk needs at least one guard")
        ids = [policy.guard_id for policy in policies]
        if len(set(ids)) != len(ids):
            raise StreamsConfigError(f"guard ids must differ, got {', '.join(ids)}")
        self.policies = tuple(policies)
        self._posts: dict[tuple[str, str], GuardPolicy] = {}
        self._truth: OrderedDict[tuple[str, str, str], tuple[LabeledBox, ...]] = OrderedDict()
        self._max_frames = max_frames
        self._pending: list[tuple[float, int, GuardVerdict]] = []
        self._order = itertools.count()

    def on_frame(self, frame: ScanFrame) -> None:
        """Remember a frame's ground truth (none for a production scanner)."""
        self._truth[(frame.checkpoint, frame.lane, frame.frame_id)] = frame.ground_truth or ()
        while len(self._truth) > self._max_frames:
            self._truth.popitem(last=False)

    def guard_at(self, checkpoint: str, lane: str) -> GuardPolicy:
        """The guard staffing a lane: the next one in turn when the lane is new."""
        key = (checkpoint, lane)
        if key not in self._posts:
            self._posts[key] = self.policies[len(self._posts) % len(self.policies)]
        return self._posts[key]

    def on_detection(self, detection: Detection, *, now: float) -> None:
        """Schedule the guard's answer to ``detection``."""
        truth = self._truth.get((detection.checkpoint, detection.lane, detection.frame_id), ())
        if detection.tip is not None:
            tip = detection.tip
            truth = (
                *truth,
                LabeledBox(class_name=tip.class_name, subtype=tip.subtype, box=tip.box),
            )
        answer = self.guard_at(detection.checkpoint, detection.lane).answer(detection, truth)
        heapq.heappush(self._pending, (now + answer.delay_s, next(self._order), answer.verdict))

    def due(self, *, now: float) -> list[GuardVerdict]:
        """The verdicts whose delay has passed, oldest first."""
        ready = []
        while self._pending and self._pending[0][0] <= now:
            ready.append(heapq.heappop(self._pending)[2])
        return ready


def run_guards(
    *,
    bootstrap_servers: str,
    topics: Topics,
    policies: Sequence[GuardPolicy],
    client_config: Mapping[str, str] | None = None,
    group_id: str = "leakguard-sim-guards",
    should_stop: Callable[[], bool] = lambda: False,
    on_ready: Callable[[int], None] | None = None,
    codec: Codec | None = None,
    tag: Tagger | None = None,
) -> None:
    """Answer every detection until ``should_stop``, tagging each verdict with ``tag`` when
    given (:mod:`schemas.authenticity`); undecodable messages are skipped (the
    workers dead-letter them; the simulated guard is a demo tool, not a consumer of record).

    Guards start at the latest offsets (a demo answers what happens now, not a backlog), so
    ``on_ready(partitions)`` tells the caller when the group has its partitions and frames
    published from then on will be answered.
    """
    codec = codec if codec is not None else Codec()
    desk = GuardDesk(policies=policies)
    common = {"bootstrap.servers": bootstrap_servers, **(client_config or {})}
    consumer = Consumer({**common, "group.id": group_id, "auto.offset.reset": "latest"})
    producer = Producer({**common, "partitioner": "murmur2_random"})

    def assigned(client: Any, partitions: list[Any]) -> None:
        # Pin "latest" to the end offsets now: resolved lazily, it could skip a frame
        # published right after ``on_ready``, and its detection would meet no ground truth.
        for partition in partitions:
            partition.offset = client.get_watermark_offsets(partition, timeout=10)[1]
        client.assign(partitions)
        if on_ready is not None and partitions:
            on_ready(len(partitions))

    consumer.subscribe([topics.frames, topics.detections], on_assign=assigned)
    try:
        while not should_stop():
            for message in consumer.consume(num_messages=100, timeout=0.2):
                if message.error() is not None or message.value() is None:
                    continue
                try:
                    event = codec.decode_any(message.value())
                except DecodeError:
                    continue
                if isinstance(event, ScanFrame):
                    desk.on_frame(event)
                elif isinstance(event, Detection):
                    desk.on_detection(event, now=time.monotonic())
            for due in desk.due(now=time.monotonic()):
                # Dated when given, not when decided: the review time is detection to answer.
                verdict = dataclasses.replace(due, event_time=now_ms())
                value = codec.encode(verdict)
                producer.produce(
                    topics.verdicts,
                    key=verdict.frame_id.encode(),
                    value=value,
                    headers=None if tag is None else tag(value),
                )
            producer.poll(0)
    finally:
        producer.flush(10)
        consumer.close()
