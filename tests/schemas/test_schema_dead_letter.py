"""The dead-letter helper: a bad message becomes a DeadLetter with its reason and bytes,
produced through whatever producer the worker injects."""

from __future__ import annotations

import pytest

from schemas import Codec, DeadLetter, DecodeError, Detection, MessageSource, send_dead_letter
from schemas.dead_letter import dead_letter


class ListProducer:
    """The producer edge: records what a Kafka producer would have been handed."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    def __call__(self, *, topic: str, key: bytes | None, value: bytes) -> None:
        self.sent.append((topic, key, value))


def test_undecodable_message_is_dead_lettered_with_everything() -> None:
    codec = Codec()
    raw = b"\xc3\x01garbage!"
    with pytest.raises(DecodeError) as caught:
        codec.decode(raw, Detection)
    producer = ListProducer()
    letter = send_dead_letter(
        producer,
        raw,
        caught.value,
        source=MessageSource(topic="detections", partition=2, offset=1234, key=b"hq/1"),
        dead_letter_topic="dead.letters",
        worker_id="outcome-1",
    )
    ((topic, key, value),) = producer.sent
    assert (topic, key) == ("dead.letters", b"hq/1")
    decoded = codec.decode(value, DeadLetter)
    assert decoded == letter
    assert (decoded.source_topic, decoded.partition, decoded.offset) == ("detections", 2, 1234)
    assert decoded.error_class == "schemas.exceptions.DecodeError"
    assert decoded.reason == caught.value.reason
    assert decoded.original == raw
    assert decoded.worker_id == "outcome-1"


def test_any_exception_gives_a_readable_reason() -> None:
    source = MessageSource(topic="t", partition=0, offset=0)
    letter = dead_letter(b"x", KeyError("frame_id"), source=source, worker_id="w")
    assert letter.error_class == "builtins.KeyError"
    assert letter.reason == "'frame_id'"
    assert letter.key is None
    empty = dead_letter(b"", RuntimeError(), source=source, worker_id="w")
    assert empty.reason == "RuntimeError"


def test_oversized_original_is_cut_so_the_dead_letter_still_fits() -> None:
    codec = Codec(max_message_bytes=128 * 1024)
    producer = ListProducer()
    huge = b"\x01" * (codec.max_message_bytes + 10)
    letter = send_dead_letter(
        producer,
        huge,
        DecodeError("too big"),
        source=MessageSource(topic="scanner.frames", partition=0, offset=7),
        dead_letter_topic="dlq",
        worker_id="w",
        codec=codec,
    )
    assert len(letter.original) < len(huge)
    assert huge.startswith(letter.original)
    assert f"of {len(huge)} bytes" in letter.reason
    assert codec.decode(producer.sent[0][2], DeadLetter) == letter
