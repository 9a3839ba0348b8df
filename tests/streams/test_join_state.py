"""The join table's entry and its changelog bytes: every state survives the round trip, an
entry in the JSON format of earlier workers is still read, and foreign bytes are refused."""

from __future__ import annotations

import base64
import json

import pytest

from schemas import Codec
from streams.join import on_event, on_tick
from streams.join_state import FrameEntry, FrameEntryError
from tests.streams.helpers import detection, obj, verdict

CODEC = Codec()
DET = detection(obj("o0", (0, 0, 10, 10)))
VER = verdict(DET, rejected=("o0",))
RAW_DET, RAW_VER = CODEC.encode(DET), CODEC.encode(VER)


@pytest.mark.parametrize(
    "entry",
    [
        FrameEntry(seen=1.5, detection=RAW_DET),
        FrameEntry(seen=1.5, verdict=RAW_VER),
        FrameEntry(seen=1.5, detection=b""),
        FrameEntry.resolved("reviewed", 2.25),
        FrameEntry.resolved("unreviewed", 3.0),
    ],
    ids=["detection", "verdict", "empty-bytes", "reviewed", "unreviewed"],
)
def test_round_trip(entry: FrameEntry) -> None:
    assert FrameEntry.from_bytes(entry.to_bytes()) == entry


def test_an_entry_recovered_from_bytes_resolves_as_the_original() -> None:
    stored = on_event(None, VER, RAW_VER, now=1.0, codec=CODEC).state
    assert stored is not None
    recovered = FrameEntry.from_bytes(stored.to_bytes())
    step = on_event(recovered, DET, RAW_DET, now=2.0, codec=CODEC)
    assert step.resolution is not None
    assert step.resolution.verdict == VER
    assert [o.kind for o in step.resolution.outcomes] == ["fp"]


def _legacy(d: bytes | None, v: bytes | None, done: str | None, at: float | None) -> bytes:
    """An entry as Faust's JSON serializer wrote the dict of earlier workers."""
    b64 = {k: None if x is None else base64.b64encode(x).decode() for k, x in (("d", d), ("v", v))}
    return json.dumps({**b64, "seen": 10.0, "done": done, "at": at}).encode()


def test_reads_the_json_entries_of_earlier_workers() -> None:
    open_entry = FrameEntry.from_bytes(_legacy(RAW_DET, None, None, None))
    assert open_entry == FrameEntry(seen=10.0, detection=RAW_DET)
    options = {"unreviewed_after_s": 60.0, "resolved_retention_s": 1000.0}
    expired = on_tick(open_entry, now=100.0, codec=CODEC, **options)
    assert expired.note == "expired"
    assert expired.resolution is not None
    assert expired.resolution.detection == DET
    done = FrameEntry.from_bytes(_legacy(None, None, "reviewed", 12.0))
    assert done == FrameEntry(seen=10.0, done="reviewed", at=12.0)
    assert on_event(done, VER, RAW_VER, now=13.0, codec=CODEC).note == "duplicate"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x02" + FrameEntry(seen=1.0).to_bytes()[1:],  # a format this worker does not know
        FrameEntry(seen=1.0, detection=RAW_DET).to_bytes()[:-1],  # cut short
        FrameEntry(seen=1.0).to_bytes() + b"x",  # trailing bytes
        b"{not json",
        json.dumps({"d": None, "v": None, "seen": 1.0, "done": "maybe", "at": None}).encode(),
        json.dumps({"d": "%%%", "v": None, "seen": 1.0, "done": None, "at": None}).encode(),
    ],
    ids=["empty", "format", "short", "trailing", "bad-json", "bad-done", "bad-base64"],
)
def test_refuses_bytes_that_are_no_entry(data: bytes) -> None:
    with pytest.raises(FrameEntryError):
        FrameEntry.from_bytes(data)
