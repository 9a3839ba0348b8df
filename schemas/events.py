"""Typed Python events, one frozen dataclass per Avro record of ``schemas/avsc/``.

The ``.avsc`` files are the source of truth (STYLE 10); these classes follow them field by
field, in the same order and with the same names, and ``tests/schemas/test_events_match_avsc``
proves it. Avro enums are ``Literal`` string types rather than ``enum.Enum`` so the codec's
hot path needs no conversion and ``mypy`` still checks every symbol. Arrays are tuples and
maps are dicts; times are timezone-aware UTC ``datetime`` with millisecond precision (Avro
``timestamp-millis``); ids are ``uuid.UUID`` (Avro ``uuid``). Boxes are ``[x1, y1, x2, y2]``
in pixels of the frame image. Every class is frozen (events are facts) and keyword-only, so a field
added to a schema never shifts arguments. They are deliberately not slotted: the codec makes
the dict the Avro reader returns an instance's ``__dict__``, without a copy
(``schemas/convert.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal, TypeAlias

from leakguard.classes import ClassName

__all__ = [
    "EVENT_TYPES",
    "MAX_EXTRA_VIEWS",
    "OUTCOME_ID_NAMESPACE",
    "Alert",
    "Annotation",
    "AnnotationSourceName",
    "AnnotationTask",
    "Box",
    "ClassCorrection",
    "DeadLetter",
    "DecisionName",
    "DetectedObject",
    "Detection",
    "DetectionView",
    "Event",
    "EventHeader",
    "FrameEventHeader",
    "GuardVerdict",
    "ImageEncodingName",
    "ImageLink",
    "ImagePayload",
    "LabelMapEntry",
    "LabeledBox",
    "ModelStateName",
    "ModelStatus",
    "ModelUpdate",
    "ObjectClassName",
    "Outcome",
    "OutcomeKindName",
    "PreAnnotation",
    "PreAnnotationSourceName",
    "RolloutModeName",
    "RolloutTarget",
    "ScanFrame",
    "ScanReference",
    "ScanView",
    "TaskReasonName",
    "TipProjection",
    "TipResult",
    "TipResultKindName",
    "now_ms",
    "outcome_id",
]

#: Avro enum ``ObjectClass``: the names of leakguard/classes.py in id order.
ObjectClassName: TypeAlias = ClassName
ImageEncodingName: TypeAlias = Literal["png"]
DecisionName: TypeAlias = Literal["confirmed", "cleared"]
OutcomeKindName: TypeAlias = Literal["tp", "fp", "fn", "unreviewed"]
PreAnnotationSourceName: TypeAlias = Literal["detector", "guard"]
TaskReasonName: TypeAlias = Literal["fp", "fn"]
AnnotationSourceName: TypeAlias = Literal["label_studio", "auto_label"]
RolloutModeName: TypeAlias = Literal["shadow", "canary", "active"]
TipResultKindName: TypeAlias = Literal["hit", "miss", "unreviewed"]
ModelStateName: TypeAlias = Literal[
    "candidate", "shadow", "canary", "active", "retired", "rejected"
]

#: Most views a frame may hold besides the primary: dual-view scanners send one more, the
#: largest multi-view line scanners three; more is a broken or hostile producer. Here, not
#: in the edge, so a bridge can refuse to build such a frame without importing the detector.
MAX_EXTRA_VIEWS: Final[int] = 3
#: Namespace of the deterministic outcome ids (UUIDv5). Never change it: sinks deduplicate
#: replayed outcomes by these ids.
OUTCOME_ID_NAMESPACE: Final[uuid.UUID] = uuid.UUID("6c1f3a52-9d0e-5b8a-a0c4-4c65616b6775")


def now_ms() -> datetime:
    """The current UTC time cut to milliseconds, the precision ``timestamp-millis`` keeps."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def outcome_id(
    *, checkpoint: str, lane: str, frame_id: str, object_id: str, kind: OutcomeKindName
) -> uuid.UUID:
    """The deterministic id of an outcome, so a replayed outcome join produces the same id.

    Frame ids are unique only per checkpoint and lane, hence both are part of the name.
    """
    name = "\x1f".join((checkpoint, lane, frame_id, object_id, kind))
    return uuid.uuid5(OUTCOME_ID_NAMESPACE, name)


@dataclass(frozen=True, kw_only=True)
class Box:
    """Box ``[x1, y1, x2, y2]`` in pixels, origin top-left."""

    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True, kw_only=True)
class LabeledBox:
    """An object a person or the simulator says is there."""

    class_name: ObjectClassName
    subtype: str | None = None
    box: Box


@dataclass(frozen=True, kw_only=True)
class ClassCorrection:
    """A confirmed alarm of the wrong class: the guard says object ``object_id`` is really
    ``class_name`` (a tablet alarmed as a laptop)."""

    object_id: str
    class_name: ObjectClassName


@dataclass(frozen=True, kw_only=True)
class DetectedObject:
    """One object the detector found; ``object_id`` is unique within its frame."""

    object_id: str
    class_name: ObjectClassName
    score: float
    box: Box
    alarmed: bool
    view_id: str | None = None
    item_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ImagePayload:
    """A frame image: exactly one of ``inline`` (encoded bytes) and ``uri`` (claim check)."""

    encoding: ImageEncodingName
    width: int
    height: int
    size_bytes: int
    sha256: str
    inline: bytes | None = None
    uri: str | None = None


@dataclass(frozen=True, kw_only=True)
class ImageLink:
    """Where a stored image lives, with its SHA-256."""

    uri: str
    sha256: str


@dataclass(frozen=True, kw_only=True)
class ScanView:
    """One more view of a multi-view frame; the frame's ``view_id`` and ``image`` stay primary."""

    view_id: str
    image: ImagePayload


@dataclass(frozen=True, kw_only=True)
class DetectionView:
    """One more view of a detected frame: the size its boxes refer to and its staged image."""

    view_id: str
    image_width: int
    image_height: int
    image: ImageLink | None = None


@dataclass(frozen=True, kw_only=True)
class ScanReference:
    """The scanner's own identifiers (DICOS/DICOM UIDs) of the object a frame came from."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    device_serial_number: str | None = None
    acquired_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class TipProjection:
    """A simulated medium the edge projected into a frame (threat image projection)."""

    projection_id: uuid.UUID
    class_name: ObjectClassName
    subtype: str
    box: Box


@dataclass(frozen=True, kw_only=True)
class PreAnnotation:
    """A suggested box an annotator starts from."""

    class_name: ObjectClassName
    subtype: str | None = None
    box: Box
    source: PreAnnotationSourceName
    source_id: str


@dataclass(frozen=True, kw_only=True)
class LabelMapEntry:
    """One model output class id and the class it means."""

    class_id: int
    class_name: ObjectClassName


@dataclass(frozen=True, kw_only=True)
class RolloutTarget:
    """A checkpoint, or one lane of it (``lane`` set), that should run a model."""

    checkpoint: str
    lane: str | None = None


@dataclass(frozen=True, kw_only=True)
class EventHeader:
    """The fields every event starts with: its id (consumers deduplicate on it) and time."""

    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    event_time: datetime = field(default_factory=now_ms)


@dataclass(frozen=True, kw_only=True)
class FrameEventHeader(EventHeader):
    """The fields of every event about one scanner frame; frame ids are unique per lane."""

    checkpoint: str
    lane: str
    frame_id: str


@dataclass(frozen=True, kw_only=True)
class ScanFrame(FrameEventHeader):
    """One X-ray image from a scanner; ``ground_truth`` is set by the simulator only."""

    scanner_id: str
    view_id: str
    image: ImagePayload
    ground_truth: tuple[LabeledBox, ...] | None = None
    scan: ScanReference | None = None
    views: tuple[ScanView, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Detection(FrameEventHeader):
    """The detector's result for one frame."""

    model_version: str
    inference_latency_ms: float
    image_width: int
    image_height: int
    objects: tuple[DetectedObject, ...]
    alarmed: bool
    image: ImageLink | None = None
    scan: ScanReference | None = None
    tip: TipProjection | None = None
    views: tuple[DetectionView, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GuardVerdict(FrameEventHeader):
    """A guard's decision on one frame."""

    model_version: str
    detection_event_id: uuid.UUID
    guard_id: str
    decision: DecisionName
    rejected_object_ids: tuple[str, ...] = ()
    missed_items: tuple[LabeledBox, ...] = ()
    note: str | None = None
    response_ms: int | None = None
    class_corrections: tuple[ClassCorrection, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Outcome(FrameEventHeader):
    """One object of one frame classified tp / fp / fn / unreviewed; see :func:`outcome_id`."""

    outcome_id: uuid.UUID
    model_version: str
    object_id: str
    kind: OutcomeKindName
    class_name: ObjectClassName
    score: float | None = None
    box: Box
    guard_id: str | None = None
    detection_event_id: uuid.UUID
    verdict_event_id: uuid.UUID | None = None
    review_time_ms: int | None = None


@dataclass(frozen=True, kw_only=True)
class TipResult(FrameEventHeader):
    """How a guard answered a TIP frame; ``event_id`` equals ``projection_id``."""

    projection_id: uuid.UUID
    model_version: str
    class_name: ObjectClassName
    box: Box
    result: TipResultKindName
    detector_alarmed: bool
    guard_id: str | None = None
    detection_event_id: uuid.UUID
    verdict_event_id: uuid.UUID | None = None
    response_ms: int | None = None


@dataclass(frozen=True, kw_only=True)
class Alert(FrameEventHeader):
    """A storage medium found at a checkpoint, for the control centre."""

    alert_id: uuid.UUID
    model_version: str
    items: tuple[DetectedObject, ...]
    guard_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AnnotationTask(FrameEventHeader):
    """A frame the detector got wrong, queued for annotation."""

    task_id: uuid.UUID
    model_version: str
    image: ImageLink
    pre_annotations: tuple[PreAnnotation, ...]
    reason: TaskReasonName


@dataclass(frozen=True, kw_only=True)
class Annotation(FrameEventHeader):
    """The finished labels of one frame image."""

    annotation_id: uuid.UUID
    task_id: uuid.UUID | None = None
    image: ImageLink
    objects: tuple[LabeledBox, ...]
    annotator: str
    source: AnnotationSourceName
    provenance: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ModelUpdate(EventHeader):
    """A new signed model and its rollout."""

    model_version: str
    parent_version: str | None = None
    artifact_uri: str
    sha256: str
    signature: bytes
    signing_key_id: str
    label_map: tuple[LabelMapEntry, ...]
    metrics: Mapping[str, float] = field(default_factory=dict)
    rollout_mode: RolloutModeName
    targets: tuple[RolloutTarget, ...] = ()
    decided_by: str | None = None
    reason: str | None = None
    sequence: int | None = None
    decision_signature: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class ModelStatus(EventHeader):
    """A worker's report on one model's rollout state and health."""

    checkpoint: str
    lane: str | None = None
    worker_id: str
    model_version: str
    state: ModelStateName
    active_version: str | None = None
    shadow_version: str | None = None
    error: str | None = None
    agreement_rate: float | None = None
    rolled_back: bool = False


@dataclass(frozen=True, kw_only=True)
class DeadLetter(EventHeader):
    """A message that could not be decoded or processed, with its original bytes."""

    source_topic: str
    partition: int
    offset: int
    key: bytes | None = None
    error_class: str
    reason: str
    original: bytes
    worker_id: str


#: Any event a message may carry.
Event: TypeAlias = (
    ScanFrame
    | Detection
    | GuardVerdict
    | Outcome
    | Alert
    | AnnotationTask
    | Annotation
    | ModelUpdate
    | ModelStatus
    | DeadLetter
    | TipResult
)

#: Event class by Avro record name (the short name, namespace ``leakguard.v1``).
EVENT_TYPES: Final[Mapping[str, type[Event]]] = {
    cls.__name__: cls
    for cls in (
        ScanFrame,
        Detection,
        GuardVerdict,
        Outcome,
        Alert,
        AnnotationTask,
        Annotation,
        ModelUpdate,
        ModelStatus,
        DeadLetter,
        TipResult,
    )
}
