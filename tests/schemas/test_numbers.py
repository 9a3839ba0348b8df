"""non_finite_field: NaN and infinities are found wherever they sit, in events and records."""

from __future__ import annotations

import dataclasses
import math

from schemas import Codec
from schemas.numbers import non_finite_field
from tests.streams.helpers import detection, obj


def test_a_finite_event_and_its_record_pass() -> None:
    seen = detection(obj("o0", (0, 0, 10, 10)), obj("o1", (5, 5, 20, 20)))
    assert non_finite_field(seen) is None
    assert non_finite_field(Codec().decode_record(Codec().encode(seen), "Detection")) is None


def test_nan_and_infinities_are_found_by_path() -> None:
    seen = detection(obj("o0", (0, 0, 10, 10)), obj("o1", (5, 5, 20, 20)))
    box = dataclasses.replace(seen.objects[1].box, x2=math.inf)
    hostile = dataclasses.replace(
        seen, objects=(seen.objects[0], dataclasses.replace(seen.objects[1], box=box))
    )
    assert non_finite_field(hostile) == "objects[1].box.x2"
    assert non_finite_field(dataclasses.replace(seen, inference_latency_ms=math.nan)) == (
        "inference_latency_ms"
    )
    record = {"items": [{"score": 0.5}, {"score": -math.inf}], "n": 3}
    assert non_finite_field(record) == "items[1].score"
    assert non_finite_field(math.nan) == "value"
