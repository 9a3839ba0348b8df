"""The join's state machine without Kafka: either arrival order, replays, late verdicts,
the review deadline and forgetting old entries."""

from __future__ import annotations

from schemas import Codec
from streams.join import is_due, on_event, on_tick
from streams.join_state import FrameEntry
from tests.streams.helpers import detection, obj, verdict

CODEC = Codec()
DET = detection(obj("o0", (0, 0, 10, 10)), obj("o1", (20, 20, 30, 30)))
VER = verdict(DET, rejected=("o1",))


def _kinds(step: object) -> list[str]:
    resolution = step.resolution  # type: ignore[attr-defined]
    return [o.kind for o in resolution.outcomes]


def test_either_order_resolves_once() -> None:
    for first, second in ((DET, VER), (VER, DET)):
        step = on_event(None, first, CODEC.encode(first), now=1.0, codec=CODEC)
        assert step.note == "stored"
        assert step.resolution is None
        step = on_event(step.state, second, CODEC.encode(second), now=2.0, codec=CODEC)
        assert step.note == "resolved"
        assert _kinds(step) == ["tp", "fp"]
        assert step.state == FrameEntry(seen=2.0, done="reviewed", at=2.0)
        replay = on_event(step.state, first, CODEC.encode(first), now=3.0, codec=CODEC)
        assert replay.note == "duplicate"
        assert replay.resolution is None


def test_deadline_makes_unreviewed_and_late_verdicts_are_ignored() -> None:
    state = on_event(None, DET, CODEC.encode(DET), now=100.0, codec=CODEC).state
    assert state is not None
    options = {"unreviewed_after_s": 60.0, "resolved_retention_s": 1000.0}
    assert not is_due(state, now=150.0, **options)
    assert on_tick(state, now=150.0, codec=CODEC, **options).note == "none"
    assert is_due(state, now=160.0, **options)
    step = on_tick(state, now=160.0, codec=CODEC, **options)
    assert step.note == "expired"
    assert _kinds(step) == ["unreviewed", "unreviewed"]
    late = on_event(step.state, VER, CODEC.encode(VER), now=170.0, codec=CODEC)
    assert late.note == "late_verdict"
    assert late.resolution is None
    assert step.state is not None
    assert on_tick(step.state, now=1161.0, codec=CODEC, **options).note == "forgotten"
    orphan = on_event(None, VER, CODEC.encode(VER), now=0.0, codec=CODEC).state
    assert orphan is not None
    assert on_tick(orphan, now=500.0, codec=CODEC, **options).note == "none"
    assert on_tick(orphan, now=1000.0, codec=CODEC, **options).state is None


def test_a_stored_verdict_keeps_its_class_correction() -> None:
    """The verdict waits in the table as bytes: its v2 fields survive the round trip."""
    det = detection(obj("o0", (0, 0, 10, 10), class_name="laptop"), obj("o1", (20, 20, 30, 30)))
    ver = verdict(det, rejected=("o1",), corrected=(("o0", "tablet"),))
    step = on_event(None, ver, CODEC.encode(ver), now=1.0, codec=CODEC)
    step = on_event(step.state, det, CODEC.encode(det), now=2.0, codec=CODEC)
    assert step.resolution is not None
    assert step.resolution.verdict == ver
    outcomes = step.resolution.outcomes
    assert [(o.kind, o.class_name) for o in outcomes] == [("tp", "tablet"), ("fp", "phone")]
