"""A guard's actions become the verdict the outcome join scores as intended."""

from __future__ import annotations

import pytest

from schemas.events import Box
from streams.console.exceptions import VerdictError
from streams.console.verdicts import build_verdict, class_correction, missed_item
from streams.logic.outcomes import match_outcomes
from tests.streams.console.helpers import HEIGHT, WIDTH, two_alarms


def _kinds(verdict_args: dict[str, object]) -> dict[str, str]:
    detection = two_alarms("f1")
    verdict = build_verdict(detection, guard_id="ana", **verdict_args)  # type: ignore[arg-type]
    return {o.object_id: o.kind for o in match_outcomes(detection, verdict)}


def _usb_missed() -> object:
    return missed_item("usb_pen", (100, 70, 130, 110), image_width=WIDTH, image_height=HEIGHT)


def test_the_verdict_names_the_frame_detection_model_and_guard() -> None:
    detection = two_alarms("f1")
    verdict = build_verdict(detection, guard_id="ana")
    assert (verdict.checkpoint, verdict.lane, verdict.frame_id) == ("hq", "1", "f1")
    assert verdict.detection_event_id == detection.event_id
    assert verdict.model_version == "m-test"
    assert verdict.guard_id == "ana"
    assert verdict.decision == "confirmed"
    assert verdict.rejected_object_ids == ()
    assert verdict.missed_items == ()
    assert verdict.class_corrections == ()
    assert verdict.response_ms is None


def test_confirm_makes_every_alarm_a_true_positive() -> None:
    assert _kinds({}) == {"o1": "tp", "o2": "tp"}


def test_clearing_one_object_makes_it_a_false_positive() -> None:
    assert _kinds({"rejected_object_ids": ["o2"]}) == {"o1": "tp", "o2": "fp"}


def test_clearing_every_alarm_clears_the_frame() -> None:
    verdict = build_verdict(two_alarms("f1"), guard_id="ana", rejected_object_ids=["o1", "o2"])
    assert verdict.decision == "cleared"
    assert _kinds({"rejected_object_ids": ["o1", "o2"]}) == {"o1": "fp", "o2": "fp"}


def test_a_missed_item_is_a_false_negative_and_keeps_the_frame_confirmed() -> None:
    missed = _usb_missed()
    verdict = build_verdict(
        two_alarms("f1"), guard_id="ana", rejected_object_ids=["o1", "o2"], missed_items=[missed]
    )  # type: ignore[list-item]
    assert verdict.decision == "confirmed"
    kinds = _kinds({"rejected_object_ids": ["o1", "o2"], "missed_items": [missed]})
    assert kinds == {"o1": "fp", "o2": "fp", "missed-0": "fn"}


@pytest.mark.parametrize(
    ("rejected", "reason"),
    [(["o9"], "not alarmed"), (["o3"], "not alarmed"), (["o1", "o1"], "cleared twice")],
)
def test_clearing_what_did_not_alarm_is_refused(rejected: list[str], reason: str) -> None:
    with pytest.raises(VerdictError, match=reason):
        build_verdict(two_alarms("f1"), guard_id="ana", rejected_object_ids=rejected)


def test_a_missed_item_keeps_its_class_and_pixel_box() -> None:
    item = missed_item("sdcard", [1, 2, 30.5, 40], image_width=WIDTH, image_height=HEIGHT)
    assert item.class_name == "sdcard"
    assert item.box == Box(x1=1, y1=2, x2=30.5, y2=40)


@pytest.mark.parametrize(
    ("class_name", "box", "reason"),
    [
        ("others", (0, 0, 10, 10), "must be one of"),
        ("pizza", (0, 0, 10, 10), "must be one of"),
        ("usb", (0, 0, WIDTH + 1, 10), "outside"),
        ("usb", (-1, 0, 10, 10), "outside"),
        ("usb", (5, 5, 6, 30), "smaller"),
        ("usb", (30, 30, 10, 10), "smaller"),
        ("usb", (1, 2, 3), "x1, y1, x2, y2"),
    ],
)
def test_a_missed_item_outside_the_image_or_of_no_medium_class_is_refused(
    class_name: str, box: tuple[float, ...], reason: str
) -> None:
    with pytest.raises(VerdictError, match=reason):
        missed_item(class_name, box, image_width=WIDTH, image_height=HEIGHT)


def test_a_corrected_class_stays_a_true_positive_of_the_guards_class() -> None:
    detection = two_alarms("f1")
    tablet = class_correction("o1", "tablet")
    verdict = build_verdict(
        detection, guard_id="ana", rejected_object_ids=["o2"], class_corrections=[tablet]
    )
    assert verdict.class_corrections == (tablet,)
    assert verdict.decision == "confirmed"
    outcomes = {o.object_id: (o.kind, o.class_name) for o in match_outcomes(detection, verdict)}
    assert outcomes == {"o1": ("tp", "tablet"), "o2": ("fp", "usb")}


@pytest.mark.parametrize(
    ("rejected", "corrections", "reason"),
    [
        (["o2"], [("o2", "tablet")], "no alarm left standing"),
        ([], [("o3", "tablet")], "no alarm left standing"),
        ([], [("o9", "tablet")], "no alarm left standing"),
        ([], [("o1", "tablet"), ("o1", "laptop")], "corrected twice"),
        ([], [("o1", "phone")], "is a phone already"),
    ],
)
def test_a_correction_of_what_is_no_standing_alarm_or_no_change_is_refused(
    rejected: list[str], corrections: list[tuple[str, str]], reason: str
) -> None:
    with pytest.raises(VerdictError, match=reason):
        build_verdict(
            two_alarms("f1"),
            guard_id="ana",
            rejected_object_ids=rejected,
            class_corrections=[class_correction(o, c) for o, c in corrections],
        )


@pytest.mark.parametrize("class_name", ["others", "pizza", ""])
def test_an_alarm_is_corrected_to_a_storage_medium_only(class_name: str) -> None:
    with pytest.raises(VerdictError, match="must be one of"):
        class_correction("o1", class_name)


def test_the_response_time_travels_with_the_verdict() -> None:
    assert build_verdict(two_alarms("f1"), guard_id="ana", response_ms=2140).response_ms == 2140
    with pytest.raises(VerdictError, match="negative"):
        build_verdict(two_alarms("f1"), guard_id="ana", response_ms=-1)
