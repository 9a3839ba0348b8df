"""The shipped display table is the one the physics computes, so a scanner bridge without
the physics packages colours scans exactly as the simulator does."""

from __future__ import annotations

import numpy as np

from detector.sim.display import SHIPPED_LUT_PATH, display_lut, shipped_display_lut


def test_the_shipped_table_is_the_computed_one() -> None:
    assert np.array_equal(shipped_display_lut(), display_lut()), (
        f"the display changed: regenerate {SHIPPED_LUT_PATH} with "
        "np.save(SHIPPED_LUT_PATH, display_lut())"
    )
