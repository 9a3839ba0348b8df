"""Deterministic sample events of every analytics type, for the tests and the benchmarks.

The sink's tests need thousands of valid events on every topic, the dashboard tests need
seeded tables where every panel finds rows, and the benchmark needs the same mix; one
generator keeps them agreeing. Events are consistent with each other the way the stream
produces them: a frame, its detection, the guard's verdict, one outcome per object and an
alert for alarming frames, over a few checkpoints, lanes, classes and two model versions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Final, TypedDict, get_args

from schemas import (
    Alert,
    Box,
    ClassCorrection,
    DeadLetter,
    DetectedObject,
    Detection,
    Event,
    GuardVerdict,
    ImageLink,
    LabeledBox,
    ModelStatus,
    ModelUpdate,
    Outcome,
    RolloutTarget,
    TipProjection,
    TipResult,
    outcome_id,
)
from schemas.events import LabelMapEntry, ObjectClassName, OutcomeKindName
from sinks.clickhouse.rows import STORED_EVENTS

__all__ = ["CHECKPOINTS", "MODEL_VERSIONS", "sample_events", "sample_events_per_type"]

CHECKPOINTS: Final = ("hq-north", "lab-east")
LANES: Final = ("1", "2")
MODEL_VERSIONS: Final = ("retinanet-2026.11.1", "retinanet-2026.11.2")
#: Sample time starts here and advances by one frame interval.
START: Final = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
#: One frame every 7 s per generator: 10,000 frames span most of a day, many hourly buckets.
FRAME_INTERVAL: Final = timedelta(seconds=7)
_CLASSES: Final[tuple[ObjectClassName, ...]] = get_args(ObjectClassName)
_MEDIA: Final[tuple[ObjectClassName, ...]] = tuple(c for c in _CLASSES if c != "others")
#: The events a frame leads to; the analytics topics carry these, rollouts and dead letters.
_FRAME_EVENTS: Final = ("Detection", "GuardVerdict", "Outcome", "Alert", "TipResult")
#: Every eighth frame carries a threat image projection: its answer is a TipResult, never an
#: outcome or alert; the guards with higher numbers miss more of them.
TIP_EVERY: Final = 8


class _FrameFields(TypedDict):
    """The fields every event about one frame shares."""

    event_time: datetime
    checkpoint: str
    lane: str
    frame_id: str


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _box(rng: random.Random) -> Box:
    x, y = rng.uniform(0, 1500), rng.uniform(0, 800)
    return Box(x1=x, y1=y, x2=x + rng.uniform(20, 300), y2=y + rng.uniform(20, 200))


def _model_events(at: datetime, rng: random.Random) -> list[Event]:
    events: list[Event] = []
    for version in MODEL_VERSIONS:
        events.append(
            ModelUpdate(
                event_id=_uuid(rng),
                event_time=at,
                model_version=version,
                parent_version=None if version == MODEL_VERSIONS[0] else MODEL_VERSIONS[0],
                artifact_uri=f"file:///models/{version}.safetensors",
                sha256=hashlib.sha256(version.encode()).hexdigest(),
                signature=b"\x01" * 64,
                signing_key_id="registry-1",
                label_map=tuple(
                    LabelMapEntry(class_id=i + 1, class_name=name)
                    for i, name in enumerate(_CLASSES)
                ),
                metrics={"gate/candidate_base_map50": 0.71, "recall_storage_media": 0.93},
                rollout_mode="active" if version == MODEL_VERSIONS[0] else "canary",
                targets=(RolloutTarget(checkpoint=CHECKPOINTS[0], lane=LANES[0]),),
                decided_by="gate" if version == MODEL_VERSIONS[1] else "operator:ana",
                reason="passed: base mAP@0.5 71.0 vs parent 70.2",
            )
        )
        events.extend(
            ModelStatus(
                event_id=_uuid(rng),
                event_time=at,
                checkpoint=checkpoint,
                lane=None,
                worker_id=f"detect-{checkpoint}",
                model_version=version,
                state="active" if version == MODEL_VERSIONS[0] else "canary",
                active_version=MODEL_VERSIONS[0],
                agreement_rate=0.97,
            )
            for checkpoint in CHECKPOINTS
        )
    return events


def _frame_events(index: int, at: datetime, rng: random.Random) -> list[Event]:
    checkpoint, lane = CHECKPOINTS[index % 2], LANES[(index // 2) % 2]
    frame_id = f"{checkpoint}/{lane}/{index:09d}"
    common = _FrameFields(event_time=at, checkpoint=checkpoint, lane=lane, frame_id=frame_id)
    version = MODEL_VERSIONS[index % 3 == 0]
    image = ImageLink(
        uri=f"file:///frames/staging/{index}.png",
        sha256=hashlib.sha256(frame_id.encode()).hexdigest(),
    )
    objects = tuple(
        DetectedObject(
            object_id=f"o{i}",
            class_name=rng.choice(_CLASSES),
            score=rng.uniform(0.3, 1.0),
            box=_box(rng),
            alarmed=False,
        )
        for i in range(rng.choice((0, 1, 1, 2, 3)))
    )
    objects = tuple(
        DetectedObject(
            object_id=o.object_id, class_name=o.class_name, score=o.score, box=o.box,
            alarmed=o.class_name != "others" and o.score > 0.5,
        )
        for o in objects
    )  # fmt: skip
    if index % TIP_EVERY == 3:
        return _tip_events(index, common, version, objects, rng)
    alarmed = any(o.alarmed for o in objects)
    detection = Detection(
        event_id=_uuid(rng), model_version=version, inference_latency_ms=rng.uniform(20, 120),
        image_width=1920, image_height=1080, objects=objects, alarmed=alarmed, image=image,
        **common,
    )  # fmt: skip
    events: list[Event] = [detection]
    if index % 10 == 9:  # every tenth frame is never reviewed
        events.extend(_outcome(detection, o, "unreviewed", None, at) for o in objects)
        return events
    rejected = tuple(o.object_id for o in objects if rng.random() < 0.2)
    missed = (LabeledBox(class_name="usb", box=_box(rng)),) if rng.random() < 0.05 else ()
    review = timedelta(milliseconds=round(rng.uniform(2_000, 40_000)))  # Avro keeps ms
    reviewed = _FrameFields(**{**common, "event_time": at + review})
    # Alarms that stand, 5 % of them reclassified (a tablet alarmed as a laptop).
    corrections = tuple(
        ClassCorrection(
            object_id=o.object_id,
            class_name=rng.choice([c for c in _MEDIA if c != o.class_name]),
        )
        for o in objects
        if o.alarmed and o.object_id not in rejected and rng.random() < 0.05
    )
    # The console's page measures the alarm on screen, a part of the review time; every
    # seventh verdict comes from a simulated guard, which measures nothing.
    response_ms = None if index % 7 == 0 else round(review.total_seconds() * rng.uniform(200, 900))
    verdict = GuardVerdict(
        event_id=_uuid(rng), model_version=version, detection_event_id=detection.event_id,
        guard_id=f"guard-{index % 5}", decision="confirmed" if alarmed else "cleared",
        rejected_object_ids=rejected, missed_items=missed, response_ms=response_ms,
        class_corrections=corrections, **reviewed,
    )  # fmt: skip
    events.append(verdict)
    corrected = {c.object_id: c.class_name for c in corrections}
    for o in objects:
        kind: OutcomeKindName = "fp" if o.object_id in rejected else "tp"
        judged = dataclasses.replace(o, class_name=corrected.get(o.object_id, o.class_name))
        events.append(_outcome(detection, judged, kind, verdict, at + review))
    for n, item in enumerate(missed):
        missed_object = DetectedObject(
            object_id=f"missed-{n}", class_name=item.class_name, score=0.0, box=item.box,
            alarmed=False,
        )  # fmt: skip
        events.append(_outcome(detection, missed_object, "fn", verdict, at + review))
    if alarmed:
        events.append(
            Alert(
                event_id=_uuid(rng), alert_id=_uuid(rng), model_version=version,
                items=tuple(o for o in objects if o.alarmed), guard_id=verdict.guard_id,
                **common,
            )
        )  # fmt: skip
    return events


def _tip_events(
    index: int,
    common: _FrameFields,
    version: str,
    objects: tuple[DetectedObject, ...],
    rng: random.Random,
) -> list[Event]:
    """A TIP frame: its detection (always alarmed), the guard's verdict and its TipResult."""
    tip = TipProjection(
        projection_id=_uuid(rng), class_name=rng.choice(_MEDIA), subtype="sample", box=_box(rng)
    )
    detection = Detection(
        event_id=_uuid(rng), model_version=version, inference_latency_ms=rng.uniform(20, 120),
        image_width=1920, image_height=1080, objects=objects, alarmed=True, tip=tip, **common,
    )  # fmt: skip
    guard = index % 5
    review = timedelta(milliseconds=round(rng.uniform(2_000, 20_000 + 5_000 * guard)))
    verdict = GuardVerdict(
        event_id=_uuid(rng), model_version=version, detection_event_id=detection.event_id,
        guard_id=f"guard-{guard}", decision="confirmed", response_ms=None,
        **_FrameFields(**{**common, "event_time": common["event_time"] + review}),
    )  # fmt: skip
    result = TipResult(
        event_id=tip.projection_id, projection_id=tip.projection_id, model_version=version,
        class_name=tip.class_name, box=tip.box,
        result="hit" if rng.random() < 0.95 - 0.15 * guard else "miss",
        detector_alarmed=rng.random() < 0.5, guard_id=verdict.guard_id,
        detection_event_id=detection.event_id, verdict_event_id=verdict.event_id,
        response_ms=round(review.total_seconds() * 1000),
        **_FrameFields(**{**common, "event_time": verdict.event_time}),
    )  # fmt: skip
    return [detection, verdict, result]


def _outcome(
    detection: Detection,
    item: DetectedObject,
    kind: OutcomeKindName,
    verdict: GuardVerdict | None,
    at: datetime,
) -> Outcome:
    place = {"checkpoint": detection.checkpoint, "lane": detection.lane}
    return Outcome(
        event_id=uuid.uuid5(detection.event_id, f"{item.object_id}/{kind}"),
        event_time=at,
        frame_id=detection.frame_id,
        outcome_id=outcome_id(
            **place, frame_id=detection.frame_id, object_id=item.object_id, kind=kind
        ),
        model_version=detection.model_version,
        object_id=item.object_id,
        kind=kind,
        class_name=item.class_name,
        score=None if kind == "fn" else item.score,
        box=item.box,
        guard_id=None if verdict is None else verdict.guard_id,
        detection_event_id=detection.event_id,
        verdict_event_id=None if verdict is None else verdict.event_id,
        review_time_ms=(
            None if verdict is None
            else round((verdict.event_time - detection.event_time).total_seconds() * 1000)
        ),
        **place,
    )  # fmt: skip


def _dead_letter(index: int, at: datetime, rng: random.Random) -> DeadLetter:
    return DeadLetter(
        event_id=_uuid(rng), event_time=at, source_topic="detections", partition=0,
        offset=index, error_class="schemas.exceptions.DecodeError",
        reason="sample: not an Avro single-object message", original=b"\x00\x01",
        worker_id="detect-1",
    )  # fmt: skip


def sample_events(*, frames: int, seed: int = 7, start: datetime = START) -> Iterator[Event]:
    """Events of ``frames`` frames (their detections, verdicts, outcomes, alerts), the
    model rollout events first and one dead letter every 500 frames; same seed, same events.
    """
    rng = random.Random(seed)
    yield from _model_events(start, rng)
    for index in range(frames):
        at = start + index * FRAME_INTERVAL
        yield from _frame_events(index, at, rng)
        if index % 500 == 0:
            yield _dead_letter(index, at, rng)


def sample_events_per_type(
    *, count: int, seed: int = 7, start: datetime = START
) -> Iterator[Event]:
    """Exactly ``count`` events of every analytics event type, all with distinct identities.

    The exactly-once test needs every topic busy, while a realistic stream has a rollout
    event per thousands of frames: frames are generated until the rarest frame event
    (alerts) reaches ``count``, a type's surplus is dropped, and rollout events and dead
    letters are generated as a steady stream (status heartbeats, one update per step).
    """
    rng = random.Random(seed)
    taken: dict[str, int] = {name: 0 for name in STORED_EVENTS}

    def wanted(event: Event) -> bool:
        name = type(event).__name__
        if taken[name] >= count:
            return False
        taken[name] += 1
        return True

    index = 0
    while any(taken[name] < count for name in _FRAME_EVENTS):
        at = start + index * FRAME_INTERVAL
        yield from filter(wanted, _frame_events(index, at, rng))
        index += 1
    step = 0
    while taken["ModelUpdate"] < count or taken["ModelStatus"] < count:
        yield from filter(wanted, _model_events(start + step * FRAME_INTERVAL, rng))
        step += 1
    for index in range(count):
        yield _dead_letter(index, start + index * FRAME_INTERVAL, rng)
