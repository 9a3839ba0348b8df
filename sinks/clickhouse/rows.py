"""Events to analytics rows: pure functions from decoded Avro records to table rows.

The sink decodes every message with ``Codec.decode_record(..., logical_types=False)``
(plain dicts, uuids as strings and times as int milliseconds: the cheapest path; records
with ``uuid.UUID`` and ``datetime`` values map to the same rows) and hands the record to
:func:`rows_of`, which returns ``(table, row)`` pairs. A frame-level event gives one row; a
``Detection`` gives one ``detection_frames`` row plus one ``detections`` row per object (so
a frame with nothing found still counts for throughput and latency). Rows are tuples in the
column order of :data:`TABLES`, which is the order of the DDL in
``infra/clickhouse/migrations/`` (a test compares them). Times go in as integers:
``DateTime`` as epoch seconds (UTC) and ``event_time_ms`` as epoch milliseconds, because
ClickHouse 18.16 has no ``DateTime64``. Images never reach the analytics store (the sink
does not read ``scanner.frames``: a frame counts once it is detected), and a dead letter's
original bytes only by their size. A ``GuardVerdict`` keeps the guard's response
time and how many alarms the guard reclassified; the corrected classes themselves are the
``Outcome``'s ``class_name``. A threat image projection frame (``Detection.tip``, #20) is a
test of the guard, not of the detector: its detection writes no row (the detector's
statistics never see it) and its ``TipResult`` one ``tip_results`` row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, TypeAlias

__all__ = ["EVENT_TABLES", "STORED_EVENTS", "TABLES", "Row", "rows_of"]

Row: TypeAlias = tuple[Any, ...]
Record: TypeAlias = Mapping[str, Any]

_TIME: Final = ("event_time", "event_time_ms")
_FRAME: Final = ("event_id", *_TIME, "checkpoint", "lane", "frame_id")
_BOX: Final = ("x1", "y1", "x2", "y2")

#: Columns of every analytics table, in DDL order.
TABLES: Final[Mapping[str, tuple[str, ...]]] = {
    "detection_frames": (
        *_FRAME, "model_version", "inference_latency_ms", "image_width", "image_height",
        "object_count", "alarmed",
    ),
    "detections": (
        *_FRAME, "model_version", "object_id", "class_name", "score", *_BOX, "alarmed",
    ),
    "verdicts": (
        *_FRAME, "model_version", "detection_event_id", "guard_id", "decision",
        "rejected_objects", "missed_items", "note", "response_ms", "reclassified_objects",
    ),
    "outcomes": (
        "outcome_id", *_FRAME, "model_version", "object_id", "kind", "class_name", "score",
        *_BOX, "guard_id", "detection_event_id", "verdict_event_id", "review_time_ms",
    ),
    "alerts": (
        "alert_id", *_FRAME, "model_version", "item_count", "classes", "max_score",
        "guard_id",
    ),
    "model_updates": (
        "event_id", *_TIME, "model_version", "parent_version", "artifact_uri", "sha256",
        "signing_key_id", "rollout_mode", "targets", "metric_names", "metric_values",
        "decided_by", "reason",
    ),
    "model_status": (
        "event_id", *_TIME, "checkpoint", "lane", "worker_id", "model_version", "state",
        "active_version", "shadow_version", "error", "agreement_rate", "rolled_back",
    ),
    "dead_letters": (
        "event_id", *_TIME, "source_topic", "source_partition", "source_offset",
        "error_class", "reason", "original_bytes", "worker_id",
    ),
    "tip_results": (
        *_FRAME, "projection_id", "model_version", "class_name", *_BOX, "result",
        "detector_alarmed", "guard_id", "detection_event_id", "verdict_event_id",
        "response_ms",
    ),
}  # fmt: skip

#: The events the analytics store keeps; the topics carrying them are the catalogue's.
STORED_EVENTS: Final[tuple[str, ...]] = (
    "Detection",
    "GuardVerdict",
    "Outcome",
    "Alert",
    "ModelUpdate",
    "ModelStatus",
    "DeadLetter",
    "TipResult",
)


def _time(record: Record) -> tuple[int, int]:
    """``(epoch seconds, epoch milliseconds)`` of the event time: int milliseconds as
    ``decode_record(..., logical_types=False)`` reads it, or an aware UTC datetime."""
    at: int | datetime = record["event_time"]
    millis = at if isinstance(at, int) else round(at.timestamp() * 1000)
    return millis // 1000, millis


def _frame(record: Record) -> Row:
    seconds, millis = _time(record)
    return (
        str(record["event_id"]),
        seconds,
        millis,
        record["checkpoint"],
        record["lane"],
        record["frame_id"],
    )


def _box(box: Record) -> Row:
    return (box["x1"], box["y1"], box["x2"], box["y2"])


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _detection(record: Record) -> list[tuple[str, Row]]:
    if record.get("tip") is not None:
        return []
    head = (*_frame(record), record["model_version"])
    objects = record["objects"]
    rows: list[tuple[str, Row]] = [
        (
            "detection_frames",
            (
                *head,
                record["inference_latency_ms"],
                record["image_width"],
                record["image_height"],
                len(objects),
                int(record["alarmed"]),
            ),
        )
    ]
    rows.extend(
        (
            "detections",
            (
                *head,
                item["object_id"],
                item["class_name"],
                item["score"],
                *_box(item["box"]),
                int(item["alarmed"]),
            ),
        )
        for item in objects
    )
    return rows


def _verdict(record: Record) -> list[tuple[str, Row]]:
    return [
        (
            "verdicts",
            (
                *_frame(record),
                record["model_version"],
                str(record["detection_event_id"]),
                record["guard_id"],
                record["decision"],
                len(record["rejected_object_ids"]),
                len(record["missed_items"]),
                record["note"],
                record["response_ms"],
                len(record["class_corrections"]),
            ),
        )
    ]


def _outcome(record: Record) -> list[tuple[str, Row]]:
    return [
        (
            "outcomes",
            (
                str(record["outcome_id"]),
                *_frame(record),
                record["model_version"],
                record["object_id"],
                record["kind"],
                record["class_name"],
                record["score"],
                *_box(record["box"]),
                record["guard_id"],
                str(record["detection_event_id"]),
                _optional_str(record["verdict_event_id"]),
                record["review_time_ms"],
            ),
        )
    ]


def _alert(record: Record) -> list[tuple[str, Row]]:
    items = record["items"]
    return [
        (
            "alerts",
            (
                str(record["alert_id"]),
                *_frame(record),
                record["model_version"],
                len(items),
                sorted({item["class_name"] for item in items}),
                max((item["score"] for item in items), default=0.0),
                record["guard_id"],
            ),
        )
    ]


def _model_update(record: Record) -> list[tuple[str, Row]]:
    metrics = sorted(record["metrics"].items())
    targets = [
        target["checkpoint"]
        if target["lane"] is None
        else f"{target['checkpoint']}/{target['lane']}"
        for target in record["targets"]
    ]
    return [
        (
            "model_updates",
            (
                str(record["event_id"]),
                *_time(record),
                record["model_version"],
                record["parent_version"],
                record["artifact_uri"],
                record["sha256"],
                record["signing_key_id"],
                record["rollout_mode"],
                targets,
                [name for name, _ in metrics],
                [float(value) for _, value in metrics],
                record["decided_by"],
                record["reason"],
            ),
        )
    ]


def _model_status(record: Record) -> list[tuple[str, Row]]:
    return [
        (
            "model_status",
            (
                str(record["event_id"]),
                *_time(record),
                record["checkpoint"],
                record["lane"],
                record["worker_id"],
                record["model_version"],
                record["state"],
                record["active_version"],
                record["shadow_version"],
                record["error"],
                record["agreement_rate"],
                int(record["rolled_back"]),
            ),
        )
    ]


def _dead_letter(record: Record) -> list[tuple[str, Row]]:
    return [
        (
            "dead_letters",
            (
                str(record["event_id"]),
                *_time(record),
                record["source_topic"],
                record["partition"],
                record["offset"],
                record["error_class"],
                record["reason"],
                len(record["original"]),
                record["worker_id"],
            ),
        )
    ]


def _tip_result(record: Record) -> list[tuple[str, Row]]:
    return [
        (
            "tip_results",
            (
                *_frame(record),
                str(record["projection_id"]),
                record["model_version"],
                record["class_name"],
                *_box(record["box"]),
                record["result"],
                int(record["detector_alarmed"]),
                record["guard_id"],
                str(record["detection_event_id"]),
                _optional_str(record["verdict_event_id"]),
                record["response_ms"],
            ),
        )
    ]


_MAPPERS: Final[Mapping[str, Callable[[Record], list[tuple[str, Row]]]]] = {
    "Detection": _detection,
    "GuardVerdict": _verdict,
    "Outcome": _outcome,
    "Alert": _alert,
    "ModelUpdate": _model_update,
    "ModelStatus": _model_status,
    "DeadLetter": _dead_letter,
    "TipResult": _tip_result,
}

#: The tables each event type writes to.
EVENT_TABLES: Final[Mapping[str, tuple[str, ...]]] = {
    "Detection": ("detection_frames", "detections"),
    "GuardVerdict": ("verdicts",),
    "Outcome": ("outcomes",),
    "Alert": ("alerts",),
    "ModelUpdate": ("model_updates",),
    "ModelStatus": ("model_status",),
    "DeadLetter": ("dead_letters",),
    "TipResult": ("tip_results",),
}


def rows_of(event_name: str, record: Record) -> list[tuple[str, Row]]:
    """The ``(table, row)`` pairs of one decoded event record of type ``event_name``.

    Raises ``KeyError`` for an event type the analytics store does not keep.
    """
    return _MAPPERS[event_name](record)
