"""The topic catalogue: one name per topic, one topic per event, prefixes for shared brokers."""

from __future__ import annotations

from dataclasses import fields

import pytest

from schemas.events import EVENT_TYPES
from schemas.exceptions import SchemaNotFoundError
from schemas.topics import EVENTS, Topics


def test_every_topic_carries_one_known_event_and_every_event_has_a_topic() -> None:
    assert list(EVENTS) == [f.name for f in fields(Topics)]
    assert sorted(EVENTS.values()) == sorted(EVENT_TYPES)


def test_a_prefixed_catalogue_prefixes_every_name_and_finds_topics_by_event() -> None:
    topics = Topics().prefixed("t-1.")
    assert all(name.startswith("t-1.") for name in topics.names())
    assert topics.carrying("GuardVerdict") == "t-1.guard.verdicts"
    assert topics.carrying("DeadLetter") == "t-1.deadletter"


def test_an_event_no_topic_carries_is_refused() -> None:
    with pytest.raises(SchemaNotFoundError, match="Box"):
        Topics().carrying("Box")
