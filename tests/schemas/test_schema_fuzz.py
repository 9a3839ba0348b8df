"""Whatever bytes arrive, decoding yields an event or the codec's DecodeError with a
readable reason, never another exception. Over 10,000 inputs from a seeded generator (plain
``random``, not Hypothesis, so the 10,000 take seconds and each run sees the same inputs)."""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Codec, DecodeError, Detection, EncodeError, ScanFrame
from schemas.codec import HEADER_BYTES, MAGIC
from schemas.events import EVENT_TYPES, Event
from schemas.examples import example_detection, example_scan_frame
from schemas.store import EVENT_NAMES, default_store

FUZZ_INPUTS = 10_000
SEED = 20261121
#: Small limits so that "oversized" inputs stay cheap to build.
MAX_INLINE = 4096
MAX_MESSAGE = 64 * 1024


def _png_frame(size: int, *, claimed_size: int | None = None) -> ScanFrame:
    return example_scan_frame(image_bytes=size, size_bytes=claimed_size)


def _detection(objects: int) -> Detection:
    return example_detection(objects=objects)


def _valid_samples(codec: Codec) -> list[bytes]:
    return [codec.encode(_detection(n)) for n in range(0, 12, 3)] + [
        codec.encode(_png_frame(n)) for n in (0, 100, MAX_INLINE)
    ]


def _inputs(codec: Codec) -> Iterator[tuple[str, bytes, type[Event], bool]]:
    """(kind, data, expected type, must_fail); ``must_fail`` False: may decode or fail."""
    rng = random.Random(SEED)
    valid = _valid_samples(codec)
    fingerprints = [s.fingerprint for s in (*default_store().released,)]
    big_codec = Codec(max_message_bytes=4 * MAX_MESSAGE, max_inline_image_bytes=4 * MAX_MESSAGE)
    oversized = [
        big_codec.encode(_png_frame(MAX_INLINE + 1)),
        big_codec.encode(_png_frame(MAX_MESSAGE)),
    ]
    makers: list[Callable[[], tuple[str, bytes, type[Event], bool]]] = [
        lambda: ("random", rng.randbytes(rng.randrange(0, 200)), Detection, True),
        lambda: (
            "header+random",
            MAGIC + rng.choice(fingerprints) + rng.randbytes(rng.randrange(0, 300)),
            Detection,
            False,
        ),
        lambda: _truncated(rng, valid),
        lambda: ("bitflip", _flip(rng, rng.choice(valid)), Detection, False),
        lambda: (
            "wrong fingerprint",
            MAGIC + rng.randbytes(8) + rng.choice(valid)[HEADER_BYTES:],
            Detection,
            True,
        ),
        lambda: ("wrong event type", rng.choice(valid[:4]), ScanFrame, True),
        lambda: (
            "swapped header",
            valid[-1][:HEADER_BYTES] + rng.choice(valid[:4])[HEADER_BYTES:],
            ScanFrame,
            True,
        ),
        lambda: ("oversized image", rng.choice(oversized), ScanFrame, True),
        lambda: (
            "bad magic",
            bytes([rng.randrange(256)]) + rng.choice(valid)[1:],
            Detection,
            False,
        ),
        lambda: (
            "trailing bytes",
            rng.choice(valid[:4]) + rng.randbytes(rng.randrange(1, 9)),
            Detection,
            True,
        ),
    ]
    for i in range(FUZZ_INPUTS):
        yield makers[i % len(makers)]()


def _truncated(rng: random.Random, valid: list[bytes]) -> tuple[str, bytes, type[Event], bool]:
    data = rng.choice(valid)
    return ("truncated", data[: rng.randrange(0, len(data))], EVENT_TYPES[_name(data)], True)


def _name(data: bytes) -> str:
    schema = default_store().by_fingerprint(data[2:HEADER_BYTES])
    assert schema is not None
    return schema.name


def _flip(rng: random.Random, data: bytes) -> bytes:
    flipped = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        flipped[rng.randrange(HEADER_BYTES, len(flipped))] ^= 1 << rng.randrange(8)
    return bytes(flipped)


def test_fuzz_decode_only_raises_decode_error() -> None:
    codec = Codec(max_message_bytes=MAX_MESSAGE, max_inline_image_bytes=MAX_INLINE)
    failures: Counter[str] = Counter()
    vague: list[tuple[str, str]] = []
    total = 0
    for kind, data, expected, must_fail in _inputs(codec):
        total += 1
        try:
            event = codec.decode(data, expected)
        except DecodeError as exc:  # any other exception fails the test
            failures[kind] += 1
            if len(exc.reason) < 20 or exc.reason != str(exc):
                vague.append((kind, exc.reason))
        else:
            assert not must_fail, f"{kind} input decoded: {data!r:.120}"
            assert isinstance(event, expected)
    assert total >= FUZZ_INPUTS
    assert vague == [], "every reason is a readable sentence"
    # Every kind that must fail did fail every time; the others failed at least sometimes.
    assert set(failures) == {
        "random", "header+random", "truncated", "bitflip", "wrong fingerprint",
        "wrong event type", "swapped header", "oversized image", "bad magic", "trailing bytes",
    }  # fmt: skip


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_decode_any_of_garbage_after_a_valid_header(name: str) -> None:
    codec = Codec()
    header = MAGIC + default_store().current(name).fingerprint

    @settings(max_examples=100, deadline=None)
    @given(body=st.binary(max_size=200))
    def check(body: bytes) -> None:
        with contextlib.suppress(DecodeError):
            codec.decode_any(header + body)

    check()


def test_reasons_are_specific() -> None:
    codec = Codec(max_message_bytes=MAX_MESSAGE, max_inline_image_bytes=MAX_INLINE)
    detection = codec.encode(_detection(2))
    cases: list[tuple[Any, type[Event], str]] = [
        (b"\x00" * 4, Detection, "shorter than the 10-byte"),
        (b"{}" + detection[2:], Detection, "not the Avro single-object marker"),
        (MAGIC + b"\xff" * 8 + detection[10:], Detection, "unknown writer schema fingerprint"),
        (detection, ScanFrame, "holds a Detection event"),
        (detection[:-1], Detection, "malformed Detection body"),
        (detection + b"\x00", Detection, "1 trailing bytes"),
        (b"\x00" * (MAX_MESSAGE + 1), Detection, "exceeds the 65536-byte limit"),
        ("text", Detection, "not bytes"),
    ]
    for data, expected, reason in cases:
        with pytest.raises(DecodeError, match=reason):
            codec.decode(data, expected)


def test_image_invariants_on_encode_and_decode() -> None:
    codec = Codec(max_message_bytes=MAX_MESSAGE, max_inline_image_bytes=MAX_INLINE)
    with pytest.raises(EncodeError, match="exceeds the 4096-byte inline limit"):
        codec.encode(_png_frame(MAX_INLINE + 1))
    with pytest.raises(EncodeError, match="size_bytes 5 != 10"):
        codec.encode(_png_frame(10, claimed_size=5))
    both = example_scan_frame(image_bytes=10, uri="s3://frames/f1")
    with pytest.raises(EncodeError, match="exactly one of inline bytes and a claim-check uri"):
        codec.encode(both)
    loose = Codec(max_message_bytes=MAX_MESSAGE, max_inline_image_bytes=MAX_MESSAGE)
    with pytest.raises(DecodeError, match="inline limit"):
        codec.decode(loose.encode(_png_frame(MAX_INLINE + 1)), ScanFrame)


def test_encode_rejects_wrong_values_with_encode_error() -> None:
    codec = Codec()
    bad = _detection(1)
    with pytest.raises(EncodeError, match="cannot encode Detection"):
        codec.encode_record("Detection", {"event_id": "not-a-record"})
    with pytest.raises(EncodeError, match="not a leakguard event type"):
        codec.encode(bad.objects[0])  # type: ignore[arg-type]
