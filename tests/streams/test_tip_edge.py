"""Threat image projection at the edge (#20): per-lane rates, the same projection on a
replay, the projected image staged for the guard, TIP frames alarming and kept out of a
trial model's figures."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from detector.engine import DetectedObject as EngineObject
from detector.engine import decode_png
from schemas.events import Detection, ScanFrame
from schemas.images import png_payload
from streams.detect import FrameDetector
from streams.exceptions import StreamsConfigError
from streams.frame_store import FrameStore
from streams.tip import TipProjector, TipRates, projection_id
from tests.streams.helpers import png


class _RoutingEngine:
    """A stand-in for the rollout engine: no alarm, and the frames its routing hook saw."""

    model_version = "active"

    def __init__(self) -> None:
        self.routed: list[str] = []

    def predict(self, images: Sequence[np.ndarray]) -> list[list[EngineObject]]:
        return [[] for _ in images]

    def predict_frames(
        self, frames: Sequence[ScanFrame], images: Sequence[np.ndarray]
    ) -> list[tuple[str, list[EngineObject]]]:
        self.routed.extend(frame.frame_id for frame in frames)
        return [("trial", []) for _ in images]


def _frame(index: int, lane: str = "1") -> ScanFrame:
    return ScanFrame(
        checkpoint="cp",
        lane=lane,
        frame_id=f"f{index}",
        scanner_id="s",
        view_id="top",
        image=png_payload(png(96, 96, seed=index)),
    )


def _detections(results: Sequence[object]) -> list[Detection]:
    assert all(isinstance(result, Detection) for result in results)
    return [result for result in results if isinstance(result, Detection)]


def test_rates_parse_per_lane_with_wildcards() -> None:
    rates = TipRates.parse(["cp/1=1.0", "cp/*=0.25", "*=0.05"])
    assert rates.rate("cp", "1") == 1.0
    assert rates.rate("cp", "2") == 0.25
    assert rates.rate("other", "1") == 0.05
    assert TipRates.parse(["cp/1=0.5"]).rate("cp", "2") == 0.0
    assert not TipRates.parse(["*=0"])
    assert not TipRates()


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("cp=0.5", "CHECKPOINT/LANE"),
        ("cp/1", "CHECKPOINT/LANE"),
        ("/1=0.5", "CHECKPOINT/LANE"),
        ("cp/1=lots", "no number"),
        ("cp/1=1.5", r"within \[0, 1\]"),
        ("*=nan", r"within \[0, 1\]"),
    ],
)
def test_bad_rates_fail_with_the_spec_named(spec: str, reason: str) -> None:
    with pytest.raises(StreamsConfigError, match=reason):
        TipRates.parse([spec])


def test_rate_one_projects_every_frame_and_the_guard_sees_the_projection(
    tmp_path: Path,
) -> None:
    engine = _RoutingEngine()
    detector = FrameDetector(
        engine=engine,
        store=FrameStore(str(tmp_path)),
        tip=TipProjector(rates=TipRates.parse(["cp/1=1.0"])),
    )
    frames = [_frame(i) for i in range(4)]
    detections = _detections(detector.run_batch(frames))
    for frame, detection in zip(frames, detections, strict=True):
        assert detection.tip is not None
        assert detection.alarmed  # nothing detected, yet it reaches the guard as an alarm
        assert detection.tip.projection_id == projection_id(
            checkpoint="cp", lane="1", frame_id=frame.frame_id
        )
        assert detection.image is not None
        staged = Path(detection.image.uri.removeprefix("file://")).read_bytes()
        assert hashlib.sha256(staged).hexdigest() == detection.image.sha256
        assert detection.image.sha256 != frame.image.sha256  # the projected image, not the scan
        original = decode_png(frame.image.inline or b"")
        changed = (decode_png(staged) != original).any(axis=-1)
        box = detection.tip.box
        rows, cols = np.nonzero(changed)
        assert cols.min() >= box.x1 - 4
        assert cols.max() <= box.x2 + 4
        assert rows.min() >= box.y1 - 4
        assert rows.max() <= box.y2 + 4
        assert detection.model_version == "active"
    assert engine.routed == []  # no TIP frame counts for a trial model


def test_a_replay_carries_the_same_projection_and_other_lanes_none(tmp_path: Path) -> None:
    rates = TipRates.parse(["cp/1=0.5"])
    first = FrameDetector(engine=_RoutingEngine(), tip=TipProjector(rates=rates))
    again = FrameDetector(engine=_RoutingEngine(), tip=TipProjector(rates=rates))
    frames = [_frame(i) for i in range(24)]
    one = _detections(first.run_batch(frames))
    two = _detections(again.run_batch(frames))
    assert [d.tip for d in one] == [d.tip for d in two]
    projected = sum(d.tip is not None for d in one)
    assert 4 <= projected <= 20  # about half, decided per frame
    engine = _RoutingEngine()
    other_lane = FrameDetector(engine=engine, tip=TipProjector(rates=rates))
    quiet = _detections(other_lane.run_batch([_frame(i, lane="2") for i in range(8)]))
    assert all(d.tip is None and not d.alarmed for d in quiet)
    assert len(engine.routed) == 8


def test_a_frame_too_small_for_a_medium_is_detected_as_scanned() -> None:
    """TIP must never cost a real frame: one the projection cannot take is detected as it is."""
    tiny = ScanFrame(
        checkpoint="cp", lane="1", frame_id="small", scanner_id="s", view_id="top",
        image=png_payload(png(24, 24, seed=1)),
    )  # fmt: skip
    detector = FrameDetector(
        engine=_RoutingEngine(), tip=TipProjector(rates=TipRates.parse(["*=1.0"]))
    )
    (detection,) = _detections(detector.run_batch([tiny]))
    assert detection.tip is None
    assert not detection.alarmed
