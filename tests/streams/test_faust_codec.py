"""The Faust adapter of the event contract: typed events in and out, and an undecodable value
reaches the agent as ``Undecodable`` (to be dead-lettered) instead of crashing it. No broker:
Faust's own ``test_context`` drives a real agent over an in-memory channel."""

from __future__ import annotations

from typing import Any

import faust
import pytest
from faust.serializers import codecs
from faust.types import Message

from schemas import Codec, DeadLetter, Detection, ModelStatus, ScanFrame
from schemas.examples import example_detection, example_scan_frame
from schemas.exceptions import EncodeError
from streams.faust_codec import (
    CODEC_NAME,
    AvroEventCodec,
    Undecodable,
    dead_letter_for,
    register_codec,
)


def _detection() -> Detection:
    return example_detection(objects=1)


def _message(value: bytes, *, offset: int = 17) -> Message:
    return Message(
        topic="detections",
        partition=4,
        offset=offset,
        timestamp=0.0,
        timestamp_type=0,
        headers=None,
        key=b"hq/2",
        value=value,
        checksum=None,
    )


def test_dumps_loads_roundtrip_through_faust() -> None:
    codec = AvroEventCodec(event_type=Detection)
    event = _detection()
    data = codecs.dumps(codec, event)
    assert data == Codec().encode(event)
    assert codecs.loads(codec, data) == event
    assert codecs.loads(codec.clone(), data) == event  # faust clones codecs


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "shorter than the 10-byte"),
        (b"\x00\x01\x02\x03 not avro at all", "not the Avro single-object marker"),
        (
            Codec().encode(
                ModelStatus(checkpoint="c", worker_id="w", model_version="m", state="active")
            ),
            "holds a ModelStatus event",
        ),
    ],
    # Fixed ids: the event's random id must not name the test (parallel workers collect
    # the same tests only when their names match).
    ids=["empty", "not-avro", "another-event-type"],
)
def test_bad_payload_becomes_undecodable_not_an_exception(payload: bytes, reason: str) -> None:
    value = AvroEventCodec(event_type=Detection).loads(payload)
    assert isinstance(value, Undecodable)
    assert value.original == payload
    assert reason in value.error.reason


def test_any_event_codec_and_registration() -> None:
    register_codec()
    event = _detection()
    assert codecs.loads(CODEC_NAME, Codec().encode(event)) == event
    assert isinstance(codecs.loads(CODEC_NAME, b"junk"), Undecodable)


def test_dumps_refuses_other_event_types_and_forwards_undecodable_bytes() -> None:
    codec = AvroEventCodec(event_type=ScanFrame)
    with pytest.raises(EncodeError, match="carries ScanFrame, not Detection"):
        codec.dumps(_detection())
    assert codec.dumps(Undecodable(original=b"raw", error=codec.loads(b"raw").error)) == b"raw"


def test_dead_letter_for_a_faust_message() -> None:
    value = AvroEventCodec(event_type=Detection).loads(b"garbage bytes")
    assert isinstance(value, Undecodable)
    letter = dead_letter_for(_message(b"garbage bytes"), value, worker_id="outcome-7")
    assert (letter.source_topic, letter.partition, letter.offset) == ("detections", 4, 17)
    assert letter.key == b"hq/2"
    assert letter.original == b"garbage bytes"
    assert letter.error_class == "schemas.exceptions.DecodeError"
    assert Codec().decode(Codec().encode(letter), DeadLetter) == letter


async def test_agent_survives_bad_payloads_and_routes_them() -> None:
    # No broker is contacted: test_context runs the agent over an in-memory channel.
    app = faust.App("leakguard-codec-test", broker="kafka://127.0.0.1:9", store="memory://")
    codec = AvroEventCodec(event_type=Detection)
    # A topic, not a bare channel: only topics deserialize, as they do from Kafka.
    channel = app.topic("detections", value_type=None, value_serializer=codec)
    seen: list[Any] = []
    dead: list[DeadLetter] = []

    @app.agent(channel)
    async def outcomes(stream: Any) -> None:
        async for event in stream.events():
            if isinstance(event.value, Undecodable):
                dead.append(dead_letter_for(event.message, event.value, worker_id="w"))
                continue
            seen.append(event.value)

    detection = _detection()
    good = Codec().encode(detection)
    frame = Codec().encode(example_scan_frame(image_bytes=4))
    async with outcomes.test_context(channel=channel) as agent:
        for payload in (good, b"\xc3\x01" + b"\xff" * 20, good[:-2], frame, good):
            await agent.put(payload)
    assert len(seen) == 2
    assert seen == [detection, detection]
    assert [letter.offset for letter in dead] == [1, 2, 3]
    assert "holds a ScanFrame event" in dead[2].reason
