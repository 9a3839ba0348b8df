"""The edge side of the drift benchmark (``bench/drift.py``): drifted frames, an edge that
detects them with a real model manager, simulated guards' reviews and the annotations the
reviews make.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from rich.progress import track

from detector.engine import InferenceEngine
from detector.sim.drift import drifted, get_drift
from detector.sim.scenes import get_preset
from detector.sim.stream import ScannerStream
from leakguard.classes import alarm_thresholds
from retrain.annotation.auto_label import auto_annotation
from schemas.events import (
    Annotation,
    Detection,
    GuardVerdict,
    ImageLink,
    ModelStatus,
    ModelUpdate,
    Outcome,
    ScanFrame,
)
from schemas.geometry import iou
from streams.detect import FrameDetector
from streams.logic.annotation import build_annotation_tasks
from streams.logic.guard_policy import GuardPolicy
from streams.logic.outcomes import match_outcomes
from streams.rollout.config import RolloutConfig
from streams.rollout.fetch import load_update, trusted_keys
from streams.rollout.manager import ModelManager
from streams.sources import frame_from_simulated

CHECKPOINT: Final[str] = "hq"
DRIFT: Final[str] = "phone-decoration"
#: A false alarm counts as "on a decoration" when its box covers a third of one (IoU): boxes
#: around tilted or partly hidden decorations are loose, and no medium was there (the guard
#: rejected the alarm).
CONFUSER_MIN_IOU: Final[float] = 0.3
#: Frames per detector call: the edge's batch size.
BATCH: Final[int] = 8


@dataclasses.dataclass
class Tally:
    """What the guards saw on a run of frames."""

    frames: int = 0
    decorations: int = 0
    decoration_false_alarms: int = 0
    false_alarms: int = 0
    true_alarms: int = 0
    missed: int = 0
    served_by: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Reviewed:
    """One frame after detection and the guard's review."""

    frame: ScanFrame
    detection: Detection
    verdict: GuardVerdict
    outcomes: tuple[Outcome, ...]


def drifted_frames(lane: str, n: int, *, size: int, seed: int) -> list[ScanFrame]:
    """``n`` frames of the drifting checkpoint's ``lane``, rendered now (no pacing)."""
    stream = ScannerStream(
        checkpoint_id=CHECKPOINT,
        lane_id=lane,
        preset=drifted(get_preset("cluttered"), DRIFT),
        seed=seed,
        width_px=size,
        height_px=size,
    )
    return [frame_from_simulated(stream.frame(i)) for i in track(range(n), f"render lane {lane}")]


def review(
    detector: FrameDetector, frames: Sequence[ScanFrame], guards: GuardPolicy, label: str
) -> tuple[Tally, list[Reviewed]]:
    """Detect ``frames`` at the edge, have the guards review them, count alarms."""
    confusers = get_drift(DRIFT).subtypes
    tally, reviewed = Tally(), []
    for start in track(range(0, len(frames), BATCH), label):
        chunk = frames[start : start + BATCH]
        for frame, detection in zip(chunk, detector.run_batch(chunk), strict=True):
            if not isinstance(detection, Detection):
                raise detection
            truth = frame.ground_truth or ()
            verdict = guards.answer(detection, truth).verdict
            outcomes = tuple(match_outcomes(detection, verdict))
            decorations = [g for g in truth if g.subtype in confusers]
            tally.frames += 1
            version = detection.model_version
            tally.served_by[version] = tally.served_by.get(version, 0) + 1
            tally.decorations += len(decorations)
            for outcome in outcomes:
                if outcome.kind == "fp":
                    tally.false_alarms += 1
                    if any(iou(outcome.box, d.box) >= CONFUSER_MIN_IOU for d in decorations):
                        tally.decoration_false_alarms += 1
                tally.true_alarms += outcome.kind == "tp"
                tally.missed += outcome.kind == "fn"
            reviewed.append(Reviewed(frame, detection, verdict, outcomes))
    return tally, reviewed


def serve_artifact(
    artifact: Path,
    frames: Sequence[ScanFrame],
    guards: GuardPolicy,
    *,
    threshold: float,
    label: str,
) -> Tally:
    """``frames`` detected by ``artifact`` alone (no model manager, no rollout) at the edges'
    ``threshold`` (the artifact's own operating point where it ships one) and reviewed by the
    guards: what a model that never reached the edge would have done there."""
    engine = InferenceEngine.from_artifact(artifact, thresholds=alarm_thresholds(threshold))
    tally, _ = review(FrameDetector(engine=engine), frames, guards, label)
    return tally


def frame_annotations(item: Reviewed, image: ImageLink) -> list[Annotation]:
    """The auto-labels of a frame's annotation tasks (none for a frame without mistakes);
    the training set adds up a frame's two."""
    tasks = build_annotation_tasks(item.detection, item.verdict, item.outcomes, image=image)
    return [auto_annotation(task) for task in tasks]


class Edge:
    """An edge worker without Kafka: detector + model manager, statuses kept in a list."""

    def __init__(self, artifact: Path, public_key: Path, cache: Path, threshold: float) -> None:
        config = RolloutConfig(
            trusted_key_paths=(str(public_key),),
            cache_dir=str(cache),
            checkpoint=CHECKPOINT,
            status_interval_s=1e-3,  # every tick reports the trial's agreement
        )
        keys = trusted_keys(config.trusted_key_paths)
        thresholds = alarm_thresholds(threshold)
        self.detector = FrameDetector(
            engine=InferenceEngine.from_artifact(artifact, thresholds=thresholds)
        )
        self.statuses: list[ModelStatus] = []
        self.manager = ModelManager(
            detector=self.detector,
            config=config,
            worker_id="bench-edge",
            load=lambda u: load_update(u, keys=keys, cache_dir=cache, thresholds=thresholds),
            publish=self.statuses.append,
        )

    def follow(self, updates: list[ModelUpdate]) -> None:
        """Apply the updates announced since the last call."""
        while updates:
            self.manager.on_update(updates.pop(0))

    def serve(self, frames: Sequence[ScanFrame], guards: GuardPolicy, label: str) -> Tally:
        """Detect and review ``frames``; the outcomes go to the rollback monitor."""
        tally, reviewed = review(self.detector, frames, guards, label)
        self.manager.on_outcomes(o for item in reviewed for o in item.outcomes)
        self.manager.tick()
        return tally


def collect_annotations(
    reviewed: Sequence[Reviewed], frames_dir: Path
) -> list[tuple[Annotation, bytes]]:
    """The training annotations of the reviewed frames, with their PNG bytes."""
    frames_dir.mkdir(parents=True, exist_ok=True)
    found = []
    for item in reviewed:
        png = item.frame.image.inline or b""
        digest = hashlib.sha256(png).hexdigest()
        path = frames_dir / f"{digest}.png"
        path.write_bytes(png)
        link = ImageLink(uri=path.resolve().as_uri(), sha256=digest)
        found += [(annotation, png) for annotation in frame_annotations(item, link)]
    return found
