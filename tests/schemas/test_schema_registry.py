"""The optional Confluent wire format, against confluent-kafka's own in-process registry
(``mock://``): the same client code that talks to a real registry."""

from __future__ import annotations

import pytest

from schemas import DecodeError, ModelStatus, ScanFrame
from schemas.registry import ConfluentCodec


def _status() -> ModelStatus:
    return ModelStatus(
        checkpoint="hq", worker_id="w1", model_version="m7", state="shadow", agreement_rate=0.97
    )


def test_confluent_roundtrip_registers_once() -> None:
    codec = ConfluentCodec(url="mock://leakguard-test-roundtrip")
    status = _status()
    first, second = codec.encode(status), codec.encode(status)
    assert first[:1] == b"\x00"
    assert first[1:5] == second[1:5]
    assert codec.decode(first, ModelStatus) == status
    # A second consumer with its own cache reads the id back from the registry.
    other = ConfluentCodec(client=codec._client)
    assert other.decode(second, ModelStatus) == status


def test_confluent_decode_errors_are_decode_errors() -> None:
    codec = ConfluentCodec(url="mock://leakguard-test-errors")
    data = codec.encode(_status())
    with pytest.raises(DecodeError, match="magic byte 0"):
        codec.decode(b"\xc3\x01" + data, ModelStatus)
    with pytest.raises(DecodeError, match="cannot fetch schema 999999"):
        codec.decode(b"\x00\x00\x0f\x42\x3f" + data[5:], ModelStatus)
    with pytest.raises(DecodeError, match="holds a ModelStatus event"):
        codec.decode(data, ScanFrame)
    with pytest.raises(DecodeError, match="malformed ModelStatus body"):
        codec.decode(data[:-3], ModelStatus)


def test_needs_url_or_client() -> None:
    with pytest.raises(ValueError, match="url or a client"):
        ConfluentCodec()
