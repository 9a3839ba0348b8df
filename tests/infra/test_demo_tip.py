"""The demo's threat image projection (#20): TIP rates reach the edges, guards of different
miss rates staff the lanes, and the summary counts TIP results per guard."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from infra.demo.plan import DemoOptions, plan_children
from infra.demo.summary import UNREVIEWED_GUARD, DemoTally
from infra.exceptions import DemoError
from schemas.events import Box, TipResult, TipResultKindName


def test_tip_rate_reaches_every_edge_and_each_rate_is_a_guard(tmp_path: Path) -> None:
    options = DemoOptions(tip_rate=0.5, guard_miss_rates=(0.05, 0.8), edge_workers=2)
    specs = {
        spec.name: spec.argv
        for spec in plan_children(
            options, model=tmp_path, image_px=256, run_dir=tmp_path, console_runs_sink=True
        )
    }
    for edge in ("edge-1", "edge-2"):
        assert specs[edge][specs[edge].index("--tip-rate") + 1] == "*=0.5"
    guards = specs["guards"]
    assert [guards[i + 1] for i, arg in enumerate(guards) if arg == "--guard"] == [
        "sim-guard-1=0.05",
        "sim-guard-2=0.8",
    ]
    plain = plan_children(
        DemoOptions(), model=tmp_path, image_px=256, run_dir=tmp_path, console_runs_sink=True
    )
    assert not any("--tip-rate" in spec.argv or "--guard" in spec.argv for spec in plain)


@pytest.mark.parametrize(
    ("tip_rate", "guard_miss_rates"), [(1.5, ()), (-0.1, ()), (0.0, (0.2, 2.0))]
)
def test_bad_tip_options_are_named(tip_rate: float, guard_miss_rates: tuple[float, ...]) -> None:
    with pytest.raises(DemoError, match=r"tip-rate|guard-miss-rates"):
        DemoOptions(tip_rate=tip_rate, guard_miss_rates=guard_miss_rates)


def _result(
    guard: str | None, result: TipResultKindName, response_ms: int | None, *, aided: bool = True
) -> TipResult:
    projection = uuid.uuid4()
    return TipResult(
        event_id=projection, checkpoint="gate-1", lane="1", frame_id=str(projection),
        projection_id=projection, model_version="m", class_name="usb",
        box=Box(x1=0, y1=0, x2=1, y2=1), result=result, detector_alarmed=aided, guard_id=guard,
        detection_event_id=uuid.uuid4(), response_ms=response_ms,
    )  # fmt: skip


def test_the_summary_gives_each_guard_its_hit_rate_and_answer_time() -> None:
    tally = DemoTally()
    hit = _result("sim-guard-1", "hit", 2000)
    missed = _result("sim-guard-1", "miss", 4000, aided=False)
    for event in (hit, hit, missed):  # a replay counts once
        tally.add(event)
    tally.add(_result("sim-guard-2", "miss", 6000))
    tally.add(_result(None, "unreviewed", None))
    rows = {row.guard: row for row in tally.summary().tip}
    assert (rows["sim-guard-1"].frames, rows["sim-guard-1"].hits) == (2, 1)
    assert rows["sim-guard-1"].hit_rate == 0.5
    assert (rows["sim-guard-1"].unaided, rows["sim-guard-1"].unaided_hits) == (1, 0)
    assert rows["sim-guard-1"].response_p50_s == 3.0
    assert rows["sim-guard-2"].hit_rate == 0.0
    assert rows[UNREVIEWED_GUARD].response_p50_s is None
    assert tally.summary().to_dict()["tip"][0]["guard"] == UNREVIEWED_GUARD
