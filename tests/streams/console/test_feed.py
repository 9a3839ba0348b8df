"""The console's Kafka feed on the real broker: its checkpoint's detections only, each with
the image its link names in the frame store, bad messages skipped, and a restart resumes from
the stored offsets without losing or repeating a frame."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from schemas import Codec
from schemas.authenticity import EventKeyring, add_keys
from schemas.events import GuardVerdict, ImageLink
from schemas.images import ImageReader
from streams.console.feed import FrameFeed
from streams.console.publisher import VerdictPublisher
from streams.console.review_queue import ReviewQueue
from streams.console.verdicts import build_verdict
from streams.frame_store import FrameStore
from tests.kafka_kit import StreamTopics, read_topic
from tests.streams.console.helpers import frame, png, staged, two_alarms

pytestmark = pytest.mark.integration

CODEC = Codec()


def _feed(topics: StreamTopics, queue: ReviewQueue, store: FrameStore) -> FrameFeed:
    feed = FrameFeed(
        bootstrap_servers=topics.bootstrap,
        topics=topics.names,
        queue=queue,
        checkpoint="hq",
        images=ImageReader(roots=(store.url,)),
    )
    feed.assign()
    return feed


def _produce(
    topics: StreamTopics, store: FrameStore, frame_id: str, *, checkpoint: str = "hq"
) -> None:
    kafka = topics.producer()
    detection = staged(
        store, frame(frame_id, checkpoint=checkpoint), two_alarms(frame_id, checkpoint=checkpoint)
    )
    kafka.produce(topics.names.detections, key=frame_id.encode(), value=CODEC.encode(detection))
    kafka.flush(10)


def _step_until(feed: FrameFeed, done: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not done():
        feed.step()


def _complete(queue: ReviewQueue) -> list[str]:
    """Frame ids of pending alarms whose image arrived too."""
    return [item.frame_id for item in queue.pending(["1"]) if item.has_image]


def test_the_feed_keeps_its_checkpoint_skips_bad_messages_and_resumes(
    stream_topics: StreamTopics, tmp_path: Path
) -> None:
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    store = FrameStore(str(tmp_path / "frames"))
    feed = _feed(stream_topics, queue, store)
    _produce(stream_topics, store, "a")
    _produce(stream_topics, store, "elsewhere", checkpoint="lab")
    kafka = stream_topics.producer()
    kafka.produce(stream_topics.names.detections, key=b"junk", value=b"not avro at all")
    kafka.flush(10)
    _produce(stream_topics, store, "b")
    _step_until(feed, lambda: len(_complete(queue)) == 2)
    assert _complete(queue) == ["a", "b"]
    assert feed.skipped == 1
    assert queue.lanes() == ["1"]
    assert [i.frame_id for i in queue.pending(["1"])] == ["a", "b"]  # "lab" stayed out

    stopped = threading.Event()
    stopped.set()
    feed.run(stopped)  # stops at once and closes the consumer: the console is down
    _produce(stream_topics, store, "c")
    again = _feed(stream_topics, queue, store)
    _step_until(again, lambda: len(_complete(queue)) == 3)
    assert _complete(queue) == ["a", "b", "c"]
    assert again.skipped == 0  # the bad message before the stored offsets is not read again


def test_a_detection_whose_image_cannot_be_read_still_alarms_with_the_reason(
    stream_topics: StreamTopics, tmp_path: Path
) -> None:
    """No link (an edge without a frame store), a swept image, a link whose hash does not
    match, a link out of the frame store: the guard still sees each alarm, with why its
    image is missing."""
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    store = FrameStore(str(tmp_path / "frames"))
    feed = _feed(stream_topics, queue, store)
    swept = staged(store, frame("swept"), two_alarms("swept"))
    assert swept.image is not None
    Path(swept.image.uri).unlink()
    forged = staged(store, frame("forged"), two_alarms("forged"))
    assert forged.image is not None
    Path(forged.image.uri).write_bytes(png(seed=9))
    elsewhere = tmp_path / "elsewhere.png"
    elsewhere.write_bytes(png(seed=4))
    outside = dataclasses.replace(
        two_alarms("outside"),
        image=ImageLink(uri=str(elsewhere), sha256=hashlib.sha256(png(seed=4)).hexdigest()),
    )
    kafka = stream_topics.producer()
    for detection in (two_alarms("unlinked"), swept, forged, outside):
        value = CODEC.encode(detection)
        kafka.produce(stream_topics.names.detections, key=detection.frame_id.encode(), value=value)
    kafka.flush(10)
    _step_until(feed, lambda: len(queue.pending(["1"])) == 4)
    reasons = {item.frame_id: item.image_error for item in queue.pending(["1"])}
    assert not any(item.has_image for item in queue.pending(["1"]))
    assert "no image link" in str(reasons["unlinked"])
    assert "cannot read" in str(reasons["swept"])
    assert "does not match" in str(reasons["forged"])
    assert "outside the image roots" in str(reasons["outside"])  # a link cannot read any file


def test_with_a_keyring_only_its_edge_s_detections_reach_the_guard_and_verdicts_are_tagged(
    stream_topics: StreamTopics, tmp_path: Path
) -> None:
    """A forged alarm (no tag, or another checkpoint's edge) never reaches the screen; the
    guard's verdict leaves tagged with the checkpoint's guard key."""
    ring = tmp_path / "events.json"
    add_keys(ring, ["edge:hq", "edge:lab", "guard:hq"])
    keyring = EventKeyring.load(ring)
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    store = FrameStore(str(tmp_path / "frames"))
    feed = FrameFeed(
        bootstrap_servers=stream_topics.bootstrap,
        topics=stream_topics.names,
        queue=queue,
        checkpoint="hq",
        images=ImageReader(roots=(store.url,)),
        keyring=keyring,
    )
    feed.assign()
    kafka = stream_topics.producer()
    for frame_id, principal in (("a", "edge:hq"), ("b", None), ("c", "edge:lab"), ("d", "edge:hq")):
        value = CODEC.encode(staged(store, frame(frame_id), two_alarms(frame_id)))
        headers = None if principal is None else keyring.headers(principal, value)
        kafka.produce(
            stream_topics.names.detections, key=frame_id.encode(), value=value, headers=headers
        )
    kafka.flush(10)
    _step_until(feed, lambda: len(_complete(queue)) == 2 and feed.unauthenticated == 2)
    assert sorted(_complete(queue)) == ["a", "d"]  # partitions interleave
    assert feed.unauthenticated == 2
    stopped = threading.Event()
    stopped.set()
    feed.run(stopped)  # closes the consumer

    publisher = VerdictPublisher(
        bootstrap_servers=stream_topics.bootstrap,
        topic=stream_topics.names.verdicts,
        tag=keyring.tagger("guard", "hq"),
    )
    answer = build_verdict(two_alarms("a"), guard_id="g1")
    publisher.publish(answer)
    publisher.close()
    (message,) = read_topic(
        stream_topics.bootstrap,
        stream_topics.names.verdicts,
        until=lambda got: len(got) >= 1,
        timeout_s=30,
    )
    event = CODEC.decode(message.value(), GuardVerdict)
    assert keyring.check(event, message.value(), message.headers()) == "guard:hq"
