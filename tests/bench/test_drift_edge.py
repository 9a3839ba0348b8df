"""The drift bench's edge side (``bench/drift_edge.py``): drifted frames served by one
artifact and reviewed by the simulated guards, counted on cases whose answer is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.drift_edge import DRIFT, Tally, drifted_frames, serve_artifact
from detector.sim.drift import get_drift
from leakguard.classes import CLASS_IDS, is_storage_medium
from schemas.events import ScanFrame
from streams.logic.guard_policy import GuardPolicy

N_FRAMES = 4


@pytest.fixture(scope="module")
def frames() -> list[ScanFrame]:
    return drifted_frames("2", N_FRAMES, size=160, seed=3)


def _truth(frames: list[ScanFrame]) -> tuple[int, int]:
    """Storage media and decorations in the frames' ground truth."""
    truth = [g for frame in frames for g in frame.ground_truth or ()]
    confusers = get_drift(DRIFT).subtypes
    media = sum(is_storage_medium(CLASS_IDS[g.class_name]) for g in truth)
    return media, sum(g.subtype in confusers for g in truth)


def _serve(artifact: Path, frames: list[ScanFrame], threshold: float) -> Tally:
    return serve_artifact(artifact, frames, GuardPolicy(seed=0), threshold=threshold, label="test")


def test_a_model_that_never_alarms_misses_every_medium(
    tiny_artifact: Path, frames: list[ScanFrame]
) -> None:
    media, decorations = _truth(frames)
    assert media > 0, "the drifted frames carry media"
    assert decorations > 0, "the drifted frames carry decorations"
    tally = _serve(tiny_artifact, frames, threshold=0.999)
    assert tally == Tally(
        frames=N_FRAMES,
        decorations=decorations,
        missed=media,
        served_by={"tiny-test": N_FRAMES},
    )


def test_a_model_that_alarms_everywhere_has_its_alarms_judged(
    tiny_artifact: Path, frames: list[ScanFrame]
) -> None:
    media, decorations = _truth(frames)
    tally = _serve(tiny_artifact, frames, threshold=0.05)
    assert tally.frames == N_FRAMES
    assert tally.served_by == {"tiny-test": N_FRAMES}
    assert tally.decorations == decorations
    assert tally.true_alarms + tally.false_alarms > 0
    assert tally.decoration_false_alarms <= tally.false_alarms
    assert tally.missed <= media
