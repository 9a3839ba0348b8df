"""The scanner stream: paced by the injected clock, deterministic per lane, decodable frames."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from detector.exceptions import SimulationError
from detector.sim.stream import ScannerStream


class FakeClock:
    """A clock that advances only when asked to sleep or when work is charged to it."""

    def __init__(self) -> None:
        self.now_s = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now_s

    def time(self) -> float:
        return 1_700_000_000.0 + self.now_s

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_s += seconds


def small_stream(**options: Any) -> ScannerStream:
    """A 96x96 ``alone`` stream on lane cp-1/L1 with a fake clock, unless options say otherwise."""
    settings: dict[str, Any] = {
        "checkpoint_id": "cp-1", "lane_id": "L1", "preset": "alone",
        "width_px": 96, "height_px": 96, "max_frames": 1, "clock": FakeClock(),
    }  # fmt: skip
    return ScannerStream(**(settings | options))


def test_frames_are_paced_at_the_rate() -> None:
    clock = FakeClock()
    frames = list(small_stream(rate_hz=2.0, max_frames=4, clock=clock))
    assert [f.frame_index for f in frames] == [0, 1, 2, 3]
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.5])
    assert [f.captured_at_s for f in frames] == pytest.approx(
        [1_700_000_100.0 + 0.5 * i for i in range(4)]
    )


def test_frames_decode_and_carry_ground_truth() -> None:
    frame = next(iter(small_stream(width_px=128)))
    with Image.open(io.BytesIO(frame.image_png)) as img:
        assert img.size == (128, 96)
        np.testing.assert_array_equal(np.asarray(img.convert("RGB")), frame.image.rgb)
    assert frame.ground_truth
    for obj in frame.ground_truth:
        x1, y1, x2, y2 = obj.box_xyxy
        assert 0 <= x1 < x2 <= 128
        assert 0 <= y1 < y2 <= 96


def test_lanes_differ_and_replays_repeat() -> None:
    def first(lane: str) -> bytes:
        return next(
            iter(small_stream(lane_id=lane, preset="bag", width_px=64, height_px=64))
        ).image_png

    assert first("L1") == first("L1")
    assert first("L1") != first("L2")


def test_bad_rate_is_refused() -> None:
    with pytest.raises(SimulationError):
        ScannerStream(checkpoint_id="cp", lane_id="L", rate_hz=0.0)
