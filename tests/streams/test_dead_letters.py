"""Bad input never stops a worker: 1,000 malformed or invalid messages mixed into the input
topics of real edge and cloud workers all land in the dead-letter topic with a reason, the
workers keep running (same processes), and every valid event is still processed."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from pathlib import Path

import pytest

from schemas import Codec, DeadLetter, DecodeError, Detection, Outcome
from schemas.events import GuardVerdict, ScanFrame
from schemas.images import png_payload
from tests.kafka_kit import StreamTopics, decoded, read_topic
from tests.streams.conftest import Workers
from tests.streams.helpers import png

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VALID_FRAMES = 40


def _frame(index: int, image: bytes) -> ScanFrame:
    return ScanFrame(
        checkpoint="cp",
        lane=str(index % 2),
        frame_id=f"cp/{index % 2}/{index:09d}",
        scanner_id="s1",
        view_id="top",
        image=png_payload(image),
    )


def _garbage(rng: random.Random, good: bytes) -> bytes:
    """Random bytes, an Avro marker with junk, or a truncated valid message."""
    kind = rng.randrange(3)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 64))
    if kind == 1:
        return b"\xc3\x01" + rng.randbytes(rng.randrange(8, 64))
    return good[: rng.randrange(1, len(good) - 1)]


def test_malformed_messages_are_dead_lettered_and_valid_ones_processed(
    stream_topics: StreamTopics, workers: Workers, tiny_artifact: Path, tmp_path: Path
) -> None:
    codec = Codec()
    names = stream_topics.names
    store = str(tmp_path / "fs")
    edge = workers.start("edge", "--model", str(tiny_artifact), "--frame-store", store)
    cloud = workers.start("cloud", "--frame-store", store)
    rng = random.Random(3)
    images = [png(128, 128, seed=i) for i in range(4)]
    frames = [_frame(i, images[i % 4]) for i in range(VALID_FRAMES)]
    good_frame = codec.encode(frames[0])
    good_detection = codec.encode(
        Detection(
            checkpoint="cp",
            lane="0",
            frame_id="x",
            model_version="m",
            inference_latency_ms=1.0,
            image_width=1,
            image_height=1,
            objects=(),
            alarmed=False,
        )
    )
    bad: dict[str, list[bytes]] = {
        names.frames: [_garbage(rng, good_frame) for _ in range(350)]
        # valid Avro, invalid image: the SHA-256 does not match
        + [
            codec.encode(
                dataclasses.replace(
                    frames[0],
                    frame_id=f"bad-{i}",
                    image=dataclasses.replace(frames[0].image, sha256="0" * 64),
                )
            )
            for i in range(50)
        ],
        names.detections: [_garbage(rng, good_detection) for _ in range(250)]
        + [good_frame] * 50,  # a ScanFrame where a Detection belongs
        names.verdicts: [_garbage(rng, good_detection) for _ in range(250)]
        + [good_detection] * 50,  # a Detection where a GuardVerdict belongs
    }
    assert sum(len(v) for v in bad.values()) == 1000
    out = stream_topics.producer()
    mixed = [(topic, value) for topic, values in bad.items() for value in values]
    mixed += [(names.frames, codec.encode(frame)) for frame in frames]
    rng.shuffle(mixed)
    for topic, value in mixed:
        out.produce(topic, key=f"k{rng.randrange(16)}".encode(), value=value)
    out.flush(30)

    detections = [
        codec.decode(m.value(), Detection)
        for m in read_topic(
            stream_topics.bootstrap,
            names.detections,
            until=lambda got: len(got) >= VALID_FRAMES + 300,
            timeout_s=120,
            check=workers.check_alive,
        )
        if m.value() is not None
        and m.value()[:2] == b"\xc3\x01"
        and _is_detection(codec, m.value())
    ]
    assert sorted(d.frame_id for d in detections) == sorted(f.frame_id for f in frames)
    for det in detections:  # the guard confirms every frame: every alarm becomes a TP
        verdict = GuardVerdict(
            checkpoint=det.checkpoint,
            lane=det.lane,
            frame_id=det.frame_id,
            model_version=det.model_version,
            detection_event_id=det.event_id,
            guard_id="g1",
            decision="confirmed",
        )
        out.produce(names.verdicts, key=det.frame_id.encode(), value=codec.encode(verdict))
    out.flush(10)
    alarmed = sum(o.alarmed for d in detections for o in d.objects)
    outcomes = read_topic(
        stream_topics.bootstrap,
        names.outcomes,
        until=lambda got: len(got) >= alarmed,
        timeout_s=60,
        check=workers.check_alive,
    )
    assert {o.kind for o in decoded(outcomes, Outcome)} == {"tp"}
    assert len(outcomes) == alarmed

    letters = decoded(
        read_topic(
            stream_topics.bootstrap,
            names.dead_letters,
            until=lambda got: len(got) >= 1000,
            timeout_s=60,
            check=workers.check_alive,
        ),
        DeadLetter,
    )
    assert len(letters) == 1000
    assert Counter(letter.source_topic for letter in letters) == {
        topic: len(values) for topic, values in bad.items()
    }
    assert all(letter.reason for letter in letters)
    assert sum("SHA-256" in letter.reason for letter in letters) == 50
    # a ScanFrame on detections and a Detection on guard.verdicts
    assert sum("does not belong on" in letter.reason for letter in letters) == 100
    originals = Counter(letter.original for letter in letters)
    assert originals == Counter(value for values in bad.values() for value in values)
    assert edge.poll() is None  # the same processes, never restarted
    assert cloud.poll() is None


def _is_detection(codec: Codec, data: bytes) -> bool:
    try:
        codec.decode(data, Detection)
    except DecodeError:
        return False
    return True
