"""Which outcomes the edge's model manager counts: with a producer keyring only those the
cloud worker tagged, so forged false alarms cannot roll a good model back; without one,
every outcome that decodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import Codec
from schemas.authenticity import EventKeyring, add_keys
from streams.logic.outcomes import match_outcomes
from streams.rollout.kafka import genuine_outcome
from tests.streams.helpers import detection, obj, verdict

CODEC = Codec()


@pytest.fixture
def keyring(tmp_path: Path) -> EventKeyring:
    path = tmp_path / "events.json"
    add_keys(path, ["cloud:*", "edge:cp"])
    return EventKeyring.load(path)


@pytest.fixture
def false_alarm() -> bytes:
    seen = detection(obj("o0", (0, 0, 10, 10)))
    (outcome,) = match_outcomes(seen, verdict(seen, decision="cleared"))
    assert outcome.kind == "fp"
    return CODEC.encode(outcome)


def test_a_tagged_outcome_of_the_cloud_is_counted(
    keyring: EventKeyring, false_alarm: bytes
) -> None:
    headers = keyring.headers("cloud:*", false_alarm)
    outcome = genuine_outcome(false_alarm, headers, codec=CODEC, keyring=keyring)
    assert outcome is not None
    assert outcome.kind == "fp"


@pytest.mark.parametrize("producer", [None, "edge:cp"])
def test_an_outcome_not_tagged_by_the_cloud_is_skipped(
    keyring: EventKeyring, false_alarm: bytes, producer: str | None
) -> None:
    headers = None if producer is None else keyring.headers(producer, false_alarm)
    assert genuine_outcome(false_alarm, headers, codec=CODEC, keyring=keyring) is None


def test_an_altered_outcome_is_skipped(keyring: EventKeyring, false_alarm: bytes) -> None:
    headers = keyring.headers("cloud:*", false_alarm)
    altered = false_alarm[:-1] + bytes([false_alarm[-1] ^ 1])
    assert genuine_outcome(altered, headers, codec=CODEC, keyring=keyring) is None


def test_without_a_keyring_every_decodable_outcome_counts(false_alarm: bytes) -> None:
    assert genuine_outcome(false_alarm, None, codec=CODEC, keyring=None) is not None
    assert genuine_outcome(b"\x00not avro", None, codec=CODEC, keyring=None) is None
