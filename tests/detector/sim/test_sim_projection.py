"""Threat image projection: a medium rendered by the simulator's physics, composited into a
frame inside its bag, reproducible from the seed (#20)."""

from __future__ import annotations

import numpy as np
import pytest

from detector.exceptions import SimulationError
from detector.sim.clutter import CLUTTER_KINDS
from detector.sim.projection import PROJECTABLE_KINDS, project_medium
from leakguard.classes import CLASS_IDS, is_storage_medium

SIZE = 256


def _bag() -> np.ndarray:
    """A white frame with an orange 'bag' in its lower-right quarter."""
    rgb = np.full((SIZE, SIZE, 3), 255, dtype=np.uint8)
    rgb[128:240, 128:240] = (236, 160, 110)
    return rgb


def test_projected_medium_is_a_storage_medium_inside_the_bag() -> None:
    frame = _bag()
    for seed in range(6):
        projected = project_medium(frame, rng=np.random.default_rng(seed))
        x1, y1, x2, y2 = projected.box_xyxy
        assert is_storage_medium(CLASS_IDS[projected.class_name])
        assert 0 <= x1 < x2 <= SIZE
        assert 0 <= y1 < y2 <= SIZE
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        assert 118 <= cx <= 250
        assert 118 <= cy <= 250
        changed = (projected.rgb != frame).any(axis=-1)
        rows, cols = np.nonzero(changed)
        assert rows.size > 0
        # Nothing outside the medium's box (plus the blur margin) changes.
        assert cols.min() >= x1 - 4
        assert cols.max() <= x2 + 4
        assert rows.min() >= y1 - 4
        assert rows.max() <= y2 + 4


def test_projection_is_reproducible_from_the_seed() -> None:
    one = project_medium(_bag(), rng=np.random.default_rng(7))
    two = project_medium(_bag(), rng=np.random.default_rng(7))
    other = project_medium(_bag(), rng=np.random.default_rng(8))
    assert np.array_equal(one.rgb, two.rgb)
    assert one.box_xyxy == two.box_xyxy
    assert not np.array_equal(one.rgb, other.rgb)


def test_on_an_empty_belt_the_medium_looks_as_the_simulator_renders_it() -> None:
    """Known answer: white is neutral, so the composite of a white frame is the medium's own
    pseudo-colour rendering, the pixels a simulated scan of it alone would show."""
    white = np.full((SIZE, SIZE, 3), 255, dtype=np.uint8)
    kind = PROJECTABLE_KINDS[0]
    projected = project_medium(white, rng=np.random.default_rng(3), kinds=(kind,))
    assert projected.subtype == kind.subtype
    dark = projected.rgb.min(axis=-1) < 200
    assert dark.any()
    rows, cols = np.nonzero(dark)
    x1, y1, x2, _y2 = projected.box_xyxy
    assert x1 - 4 <= cols.min()
    assert cols.max() <= x2 + 4
    assert y1 - 4 <= rows.min()


def test_dark_bag_stays_visible_under_the_medium() -> None:
    """Multiplying colours: what lies under the medium is never lighter than before."""
    frame = _bag()
    projected = project_medium(frame, rng=np.random.default_rng(1))
    assert (projected.rgb.astype(int) <= frame.astype(int)).all()


def test_hostile_frames_and_kinds_are_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(SimulationError, match="uint8"):
        project_medium(np.zeros((64, 64), dtype=np.uint8), rng=rng)
    with pytest.raises(SimulationError, match="at least"):
        project_medium(np.zeros((16, 64, 3), dtype=np.uint8), rng=rng)
    with pytest.raises(SimulationError, match="no storage medium"):
        project_medium(_bag(), rng=rng, kinds=(CLUTTER_KINDS[0],))
