"""The simulator's side view (#20): the same scene across the belt. Its objects span the
same columns as in the top view (the belt axis is shared, which is what the edge matches
views by), rest inside their container's height, and each view is a pure function of
``(seed, index)``."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from detector.exceptions import SimulationError
from detector.sim.containers import CONTAINERS
from detector.sim.scenes import get_preset
from detector.sim.side_view import (
    BELT_MARGIN_MM,
    CONTAINER_HEIGHT_MM,
    side_layout,
    simulate_side,
)
from detector.sim.simulate import scene_layout, simulate
from detector.sim.stream import ScannerStream, check_views

SIZE = 128


@pytest.mark.parametrize("index", range(6))
def test_every_labelled_object_spans_the_same_columns_as_from_above(index: int) -> None:
    top = scene_layout(get_preset("cluttered"), seed=11, index=index, width_px=SIZE, height_px=SIZE)
    side = side_layout(top, rng=np.random.default_rng(index))
    assert len(side.labelled()) == len(top.labelled())
    for before, after in zip(top.labelled(), side.labelled(), strict=True):
        assert after.subtype == before.subtype
        assert (after.box_xyxy[0], after.box_xyxy[2]) == (before.box_xyxy[0], before.box_xyxy[2])
        assert 0.0 <= after.box_xyxy[1] < after.box_xyxy[3] <= SIZE


@pytest.mark.parametrize("index", range(6))
def test_objects_rest_inside_their_container(index: int) -> None:
    top = scene_layout(get_preset("bag"), seed=4, index=index, width_px=SIZE, height_px=SIZE)
    side = side_layout(top, rng=np.random.default_rng(index))
    mm = side.mm_per_px
    belt_px = SIZE - BELT_MARGIN_MM / mm
    room_px = max(CONTAINER_HEIGHT_MM.values()) / mm
    for obj in side.objects:
        bottom_px = max(p.cy_mm + p.height_mm / 2 for p in obj.parts) / mm
        if obj.subtype in CONTAINERS:
            assert bottom_px == pytest.approx(belt_px)
        else:
            assert belt_px - room_px - 1e-6 <= bottom_px <= belt_px + 1e-6


def test_the_side_view_is_deterministic_per_seed_and_index() -> None:
    preset = get_preset("alone")
    first = simulate_side(preset, seed=3, index=2, width_px=SIZE, height_px=SIZE)
    again = simulate_side(preset, seed=3, index=2, width_px=SIZE, height_px=SIZE)
    other = simulate_side(preset, seed=3, index=3, width_px=SIZE, height_px=SIZE)
    np.testing.assert_array_equal(first.rgb, again.rgb)
    assert first.objects == again.objects
    assert not np.array_equal(first.rgb, other.rgb)
    top = simulate(preset, seed=3, index=2, width_px=SIZE, height_px=SIZE)
    assert [o.box_xyxy[0::2] for o in first.objects] == [o.box_xyxy[0::2] for o in top.objects]
    assert (first.rgb < 250).any(), "the side view shows the scene"


def test_a_dual_view_stream_renders_the_side_view_beside_the_top() -> None:
    stream = ScannerStream(
        checkpoint_id="cp", lane_id="1", preset="alone", width_px=SIZE, height_px=SIZE,
        views=["top", "side"],
    )  # fmt: skip
    frame = stream.frame(0)
    (view,) = frame.views
    assert view.view_id == "side"
    with Image.open(io.BytesIO(view.image_png)) as img:
        assert img.size == (SIZE, SIZE)
        np.testing.assert_array_equal(np.asarray(img.convert("RGB")), view.image.rgb)
    assert ScannerStream(checkpoint_id="cp", lane_id="1").views == ("top",)


@pytest.mark.parametrize("views", [["side"], ["top", "top"], ["top", "front"], []])
def test_views_start_with_top_and_are_known(views: list[str]) -> None:
    with pytest.raises(SimulationError, match="view"):
        check_views(views)
