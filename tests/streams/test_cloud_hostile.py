"""The cloud worker against hostile but well-formed input, for real: bytes that are no join
entry, written to the join table's changelog (the table is recovered from it), must cost
neither the worker nor a valid event."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from schemas import Codec, DeadLetter, Outcome
from streams.config import JOIN_PARTITIONS, WorkerConfig
from streams.frame_store import FrameStore
from streams.logic.outcomes import join_key
from tests.kafka_kit import StreamTopics, create_topics, decoded, produce, read_topic
from tests.streams.conftest import Workers
from tests.streams.helpers import detection, obj, png, verdict

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_forged_changelog_entry_costs_neither_the_worker_nor_the_frame_s_events(
    stream_topics: StreamTopics, workers: Workers, tmp_path: Path
) -> None:
    codec = Codec()
    names = stream_topics.names
    bad, good = (
        detection(obj("o0", (0, 0, 10, 10)), frame_id="forged-entry"),
        detection(obj("o0", (0, 0, 10, 10)), frame_id="plain-frame"),
    )
    store = FrameStore(str(tmp_path / "fs"))
    for frame in (bad, good):
        store.stage(
            png(16, 16), checkpoint=frame.checkpoint, lane=frame.lane, frame_id=frame.frame_id
        )
    # Before the worker starts: the recovered table then holds garbage for the bad frame.
    changelog = WorkerConfig(
        role="cloud", bootstrap_servers=stream_topics.bootstrap, app_prefix=stream_topics.prefix
    ).join_table_changelog
    create_topics(stream_topics.bootstrap, {changelog: JOIN_PARTITIONS})
    key = join_key(checkpoint=bad.checkpoint, lane=bad.lane, frame_id=bad.frame_id).encode()
    produce(stream_topics.producer(), [(changelog, key, b"\x00not a join entry")])
    workers.start("cloud", "--frame-store", str(tmp_path / "fs"), "--expiry-check", "1")
    out = stream_topics.producer()
    for frame in (bad, good):
        out.produce(names.detections, key=frame.frame_id.encode(), value=codec.encode(frame))
        out.produce(names.verdicts, key=frame.frame_id.encode(), value=codec.encode(verdict(frame)))
    out.flush(10)
    messages = read_topic(
        stream_topics.bootstrap,
        names.outcomes,
        until=lambda got: len(got) >= 2,
        timeout_s=120,
        check=workers.check_alive,
    )
    outcomes = {(o.frame_id, o.kind) for o in decoded(messages, Outcome)}
    assert outcomes == {("forged-entry", "tp"), ("plain-frame", "tp")}, workers.logs()
    workers.check_alive()


def test_a_detection_with_a_nan_score_is_dead_lettered_not_joined(
    stream_topics: StreamTopics, workers: Workers, tmp_path: Path
) -> None:
    """A NaN would travel into the outcome, the alert and the control centre's JSON."""
    codec = Codec()
    names = stream_topics.names
    seen = detection(obj("o0", (0, 0, 10, 10)), frame_id="nan-frame")
    hostile = dataclasses.replace(
        seen, objects=(dataclasses.replace(seen.objects[0], score=math.nan),)
    )
    good = detection(obj("o0", (0, 0, 10, 10)), frame_id="plain-frame")
    FrameStore(str(tmp_path / "fs")).stage(
        png(16, 16), checkpoint=good.checkpoint, lane=good.lane, frame_id=good.frame_id
    )
    workers.start("cloud", "--frame-store", str(tmp_path / "fs"))
    out = stream_topics.producer()
    for frame in (hostile, good):
        out.produce(names.detections, key=frame.frame_id.encode(), value=codec.encode(frame))
        out.produce(
            names.verdicts,
            key=frame.frame_id.encode(),
            value=codec.encode(verdict(seen if frame is hostile else good)),
        )
    out.flush(10)
    outcomes = read_topic(
        stream_topics.bootstrap,
        names.outcomes,
        until=lambda got: len(got) >= 1,
        timeout_s=120,
        check=workers.check_alive,
    )
    assert [o.frame_id for o in decoded(outcomes, Outcome)] == ["plain-frame"]
    (letter,) = read_topic(
        stream_topics.bootstrap, names.dead_letters, until=lambda got: len(got) >= 1, timeout_s=30
    )
    reason = codec.decode(letter.value(), DeadLetter).reason
    assert reason == "Detection.objects[0].score is not a finite number"
