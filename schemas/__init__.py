"""The event contract: the `.avsc` files, their released versions, the Avro codec and
the compatibility rules.

Every message on every leakguard topic is an Avro event defined here. This package knows
nothing about Faust, Kafka or torch, so any producer or consumer can depend on it.

Typical use::

    from schemas import Codec, Detection
    codec = Codec()
    data = codec.encode(detection)            # C3 01 + fingerprint + Avro body
    detection = codec.decode(data, Detection)  # raises schemas.DecodeError on bad input
"""

from schemas.codec import Codec
from schemas.dead_letter import (
    DeadLetterProducer,
    MessageSource,
    SourceMessage,
    dead_letter,
    send_dead_letter,
)
from schemas.events import (
    EVENT_TYPES,
    Alert,
    Annotation,
    AnnotationTask,
    Box,
    ClassCorrection,
    DeadLetter,
    DetectedObject,
    Detection,
    DetectionView,
    Event,
    GuardVerdict,
    ImageLink,
    ImagePayload,
    LabeledBox,
    LabelMapEntry,
    ModelStatus,
    ModelUpdate,
    Outcome,
    PreAnnotation,
    RolloutTarget,
    ScanFrame,
    ScanReference,
    ScanView,
    TipProjection,
    TipResult,
    now_ms,
    outcome_id,
)
from schemas.exceptions import (
    DecodeError,
    EncodeError,
    IncompatibleSchemaError,
    SchemaError,
    SchemaNotFoundError,
    SchemaStoreError,
)
from schemas.store import SchemaStore, default_store

__all__ = [
    "EVENT_TYPES",
    "Alert",
    "Annotation",
    "AnnotationTask",
    "Box",
    "ClassCorrection",
    "Codec",
    "DeadLetter",
    "DeadLetterProducer",
    "DecodeError",
    "DetectedObject",
    "Detection",
    "DetectionView",
    "EncodeError",
    "Event",
    "GuardVerdict",
    "ImageLink",
    "ImagePayload",
    "IncompatibleSchemaError",
    "LabelMapEntry",
    "LabeledBox",
    "MessageSource",
    "ModelStatus",
    "ModelUpdate",
    "Outcome",
    "PreAnnotation",
    "RolloutTarget",
    "ScanFrame",
    "ScanReference",
    "ScanView",
    "SchemaError",
    "SchemaNotFoundError",
    "SchemaStore",
    "SchemaStoreError",
    "SourceMessage",
    "TipProjection",
    "TipResult",
    "dead_letter",
    "default_store",
    "now_ms",
    "outcome_id",
    "send_dead_letter",
]
