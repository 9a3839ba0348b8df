"""Every event type survives encode -> decode unchanged, for any valid content."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import Codec
from schemas.codec import MAGIC
from schemas.convert import to_record
from schemas.events import Event
from schemas.examples import example_detection
from schemas.store import EVENT_NAMES, default_store

# Few examples per type keep the whole package under a minute on two shared cores.
ROUNDTRIP_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_roundtrip(name: str, avro_strategies: Any) -> None:
    codec = Codec()
    fingerprint = default_store().current(name).fingerprint

    @ROUNDTRIP_SETTINGS
    @given(event=avro_strategies.events(name))
    def check(event: Event) -> None:
        data = codec.encode(event)
        assert data[:2] == MAGIC
        assert data[2:10] == fingerprint
        assert codec.decode(data, type(event)) == event
        assert codec.decode_any(data) == event

    check()


def test_record_layer_matches_typed_layer(avro_strategies: Any) -> None:
    """encode_record/decode_record are the same bytes as the typed API, minus the types."""
    codec = Codec()

    @ROUNDTRIP_SETTINGS
    @given(event=st.sampled_from(EVENT_NAMES).flatmap(avro_strategies.events))
    def check(event: Event) -> None:
        name = type(event).__name__
        data = codec.encode(event)
        assert codec.encode_record(name, to_record(event)) == data
        assert codec.typed(type(event), codec.decode_record(data, name)) == event

    check()


def test_records_without_logical_types_keep_uuids_as_str_and_times_as_millis() -> None:
    codec = Codec()
    detection = example_detection(objects=2)
    plain = codec.decode_record(codec.encode(detection), "Detection", logical_types=False)
    assert plain["event_id"] == str(detection.event_id)
    assert plain["event_time"] == round(detection.event_time.timestamp() * 1000)
    logical = codec.decode_record(codec.encode(detection), "Detection")
    assert {k: v for k, v in plain.items() if k not in ("event_id", "event_time")} == {
        k: v for k, v in logical.items() if k not in ("event_id", "event_time")
    }
