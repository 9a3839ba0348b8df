"""What the worker fuzz run sends, per input topic: hostile events with valid ones between
them and a tail of valid ones after them, and what the valid ones must produce.

Valid events live at checkpoint :data:`VALID_CHECKPOINT` with ids of their own; hostile events
never reuse a valid event's frame id or alert id. Without a producer keyring a forged event
under a valid frame's id is accepted by design (docs/security.md, "Open"), so such a collision
would be no finding and would blur the loss count. Hostile events do reuse valid *event ids*
(before the valid event is sent, too): no worker may drop a valid event because another one
carried its id.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, TypeAlias

from bench.fuzz_cases import FRAME_PX, HOSTILE_CHECKPOINT, Case, TargetedCases, Targets
from bench.fuzz_events import RecordFuzzer, encode_raw
from infra.topics import load_spec
from schemas import Codec
from schemas.convert import to_record
from schemas.events import (
    Alert,
    DeadLetter,
    Event,
    LabelMapEntry,
    ModelStatus,
    ModelUpdate,
    Outcome,
    outcome_id,
)
from schemas.images import png_payload
from schemas.topics import EVENTS, Topics
from tests.streams.helpers import detection, obj, png, scan_frame, verdict

__all__ = ["VALID_CHECKPOINT", "Phase", "Plan", "Send", "build_plan"]

#: Checkpoint of every valid event; hostile events use others.
VALID_CHECKPOINT: Final = "cp"
#: One valid event between every this many hostile ones.
HOSTILE_PER_VALID: Final = 10
#: Valid events after the last hostile one, per topic: the stall probe.
TAIL: Final = 5
#: Share of the untargeted hostile events that mutate a template (the rest are random).
MUTATED_SHARE: Final = 0.8
#: Room left under a topic's message size limit for the record batch's own envelope.
ENVELOPE_BYTES: Final = 4096

#: ``valid``: sent among the hostile events; ``tail``: sent after all of them.
Phase: TypeAlias = Literal["hostile", "valid", "tail"]


@dataclass(frozen=True)
class Send:
    """One message to produce: topic, key, value, phase and what case it is."""

    topic: str
    key: bytes | None
    value: bytes
    phase: Phase
    case: str


@dataclass
class Plan:
    """The messages in send order, and the ids each valid one must show up under."""

    sends: list[Send] = field(default_factory=list)
    #: frame id -> phase: each must yield a detection from the edge.
    edge_frames: dict[str, Phase] = field(default_factory=dict)
    #: frame id -> phase: each detection + verdict pair must yield a tp outcome and an alert.
    cloud_frames: dict[str, Phase] = field(default_factory=dict)
    #: analytics table -> event id -> phase: each must be a row of the sink.
    sink_rows: dict[str, dict[str, Phase]] = field(default_factory=dict)
    #: alert id -> phase: each must reach the control centre's endpoint.
    alert_ids: dict[str, Phase] = field(default_factory=dict)

    def hostile_by_topic(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for send in self.sends:
            if send.phase == "hostile":
                counts[send.topic] = counts.get(send.topic, 0) + 1
        return counts


_CODEC = Codec()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Builder:
    """Generates one run's messages: valid events, and hostile ones from the targeted cases,
    mutated templates and random records."""

    def __init__(self, topics: Topics, targets: Targets, seed: int) -> None:
        self.topics = topics
        self.targets = targets
        self.rng = random.Random(seed)
        self.duplicates: list[str] = []
        self.plan = Plan()
        self.image = png(FRAME_PX, FRAME_PX)
        self.cases = TargetedCases(targets, self.rng, self.duplicates, self.image)
        spec = load_spec()
        self.limits = {
            getattr(topics, f): spec.topics[getattr(Topics(), f)].max_message_bytes - ENVELOPE_BYTES
            for f in EVENTS
        }

    # -- valid events -------------------------------------------------------------------

    def valid_frame(self, index: int, phase: Phase) -> Send:
        lane = str(index % 2)
        if index % 5 == 4:  # some by claim check, from under the edge's root
            good = self.targets.good.read_bytes()
            payload = png_payload(good, uri=str(self.targets.good))
        else:
            payload = png_payload(self.image)
        frame = replace(scan_frame(index, payload, lane=lane), frame_id=f"cp/{lane}/v{index:07d}")
        self.plan.edge_frames[frame.frame_id] = phase
        self.duplicates.append(str(frame.event_id))
        return Send(self.topics.frames, f"cp/{lane}".encode(), _CODEC.encode(frame), phase, "valid")

    def valid_pair(self, index: int, phase: Phase) -> list[Send]:
        det = detection(obj("o0", (2, 2, 20, 20)), frame_id=f"cp/1/pair{index:07d}")
        answer = verdict(det)
        self.plan.cloud_frames[det.frame_id] = phase
        self._row("detection_frames", det, phase)
        self._row("verdicts", answer, phase)
        key = det.frame_id.encode()
        return [
            Send(self.topics.detections, key, _CODEC.encode(det), phase, "valid"),
            Send(self.topics.verdicts, key, _CODEC.encode(answer), phase, "valid"),
        ]

    def valid_outcome(self, index: int, phase: Phase) -> Send:
        frame_id = f"cp/1/outcome{index:07d}"
        ident = outcome_id(checkpoint="cp", lane="1", frame_id=frame_id, object_id="o0", kind="fp")
        event = Outcome(
            event_id=ident,
            checkpoint="cp",
            lane="1",
            frame_id=frame_id,
            outcome_id=ident,
            model_version="m1",
            object_id="o0",
            kind="fp",
            class_name="phone",
            score=0.7,
            box=obj("o0", (1, 1, 9, 9)).box,
            guard_id="g7",
            detection_event_id=uuid.uuid4(),
        )
        self._row("outcomes", event, phase)
        return Send(self.topics.outcomes, frame_id.encode(), _CODEC.encode(event), phase, "valid")

    def valid_alert(self, index: int, phase: Phase) -> Send:
        event = Alert(
            checkpoint="cp",
            lane="1",
            frame_id=f"cp/1/alert{index:07d}",
            alert_id=uuid.uuid4(),
            model_version="m1",
            items=(obj("o0", (1, 1, 9, 9)),),
            guard_id="g7",
        )
        self._row("alerts", event, phase)
        self.plan.alert_ids[str(event.alert_id)] = phase
        return Send(self.topics.alerts, b"cp", _CODEC.encode(event), phase, "valid")

    def valid_update(self, index: int, phase: Phase) -> Send:
        event = ModelUpdate(
            model_version=f"valid-{index}",
            artifact_uri="file:///models/valid",
            sha256="0" * 64,
            signature=b"\x01" * 64,
            signing_key_id="k1",
            rollout_mode="shadow",
            label_map=(LabelMapEntry(class_id=0, class_name="phone"),),
            metrics={"map50": 0.7},
        )
        self._row("model_updates", event, phase)
        key = event.model_version.encode()
        return Send(self.topics.model_updates, key, _CODEC.encode(event), phase, "valid")

    def valid_status(self, index: int, phase: Phase) -> Send:
        event = ModelStatus(
            checkpoint="cp", worker_id=f"edge-{index}", model_version="m1", state="active"
        )
        self._row("model_status", event, phase)
        return Send(self.topics.model_status, b"cp", _CODEC.encode(event), phase, "valid")

    def valid_dead_letter(self, index: int, phase: Phase) -> Send:
        event = DeadLetter(
            source_topic="fuzz-valid",
            partition=0,
            offset=index,
            key=None,
            error_class="ValueError",
            reason="a valid dead letter",
            original=b"\x00\x01",
            worker_id="fuzz-valid",
        )
        self._row("dead_letters", event, phase)
        return Send(self.topics.dead_letters, b"fuzz-valid", _CODEC.encode(event), phase, "valid")

    def _row(self, table: str, event: Event, phase: Phase) -> None:
        self.plan.sink_rows.setdefault(table, {})[str(event.event_id)] = phase
        self.duplicates.append(str(event.event_id))

    # -- hostile events -----------------------------------------------------------------

    def hostile(
        self,
        name: str,
        topic: str,
        index: int,
        template: Event,
        cases: list[Case],
        key: Callable[[dict[str, Any]], Any],
    ) -> Send:
        """Hostile event ``index`` of a topic: a targeted case, a mutation or a random record."""
        fuzzer = RecordFuzzer(name, self.rng, self.duplicates)
        while True:  # a drawn record over the topic's size limit is drawn again
            if cases and index % 2 == 0:
                case, record = cases[(index // 2) % len(cases)](index)
            elif self.rng.random() < MUTATED_SHARE:
                case, record = "mutated", fuzzer.mutate(template, self.rng.randint(1, 3))
            else:
                case, record = "random", fuzzer.random_record()
            value = encode_raw(name, record)
            if len(value) <= self.limits[topic]:
                break
        raw_key = key(record)
        as_bytes = None if raw_key is None else str(raw_key).encode("utf-8", "replace")
        return Send(topic, as_bytes, value, "hostile", case)

    def verdict_for(self, record: dict[str, Any]) -> Send:
        """A plain confirming verdict of a hostile detection, so the cloud joins it (keeps
        its image, writes its outcomes and alert)."""
        answer = to_record(verdict(detection(obj("o0", (2, 2, 20, 20)))))
        answer.update(
            checkpoint=record["checkpoint"],
            lane=record["lane"],
            frame_id=record["frame_id"],
            detection_event_id=record["event_id"],
            event_id=str(uuid.uuid4()),
        )
        key = str(record["frame_id"]).encode("utf-8", "replace")
        return Send(
            self.topics.verdicts,
            key,
            encode_raw("GuardVerdict", answer),
            "hostile",
            "joined verdict",
        )


def _generic(
    builder: _Builder, name: str, topic: str, template: Event, key: str, index: int
) -> Send:
    return builder.hostile(name, topic, index, template, [], lambda r: r.get(key))


def build_plan(topics: Topics, targets: Targets, *, hostile: int, seed: int) -> Plan:
    """``hostile`` hostile events per input topic with a valid one after every
    :data:`HOSTILE_PER_VALID` and :data:`TAIL` valid ones at the end, topics interleaved."""
    b = _Builder(topics, targets, seed)
    valid_count = max(1, hostile // HOSTILE_PER_VALID)
    # Valid events are built first so hostile ones can carry their event ids from the start.
    valid: dict[str, list[list[Send]]] = {
        "frames": [[b.valid_frame(i, _phase(i, valid_count))] for i in range(valid_count + TAIL)],
        "join": [b.valid_pair(i, _phase(i, valid_count)) for i in range(valid_count + TAIL)],
        "outcomes": [
            [b.valid_outcome(i, _phase(i, valid_count))] for i in range(valid_count + TAIL)
        ],
        "alerts": [[b.valid_alert(i, _phase(i, valid_count))] for i in range(valid_count + TAIL)],
        "updates": [[b.valid_update(i, _phase(i, valid_count))] for i in range(valid_count + TAIL)],
        "status": [[b.valid_status(i, _phase(i, valid_count))] for i in range(valid_count + TAIL)],
        "letters": [
            [b.valid_dead_letter(i, _phase(i, valid_count))] for i in range(valid_count + TAIL)
        ],
    }
    frame_cases, detection_cases, verdict_cases = (
        b.cases.frame_cases(),
        b.cases.detection_cases(),
        b.cases.verdict_cases(),
    )
    hostile_makers: dict[str, Callable[[int], list[Send]]] = {
        "frames": lambda i: [
            b.hostile(
                "ScanFrame", topics.frames, i, b.cases.frame_template(i), frame_cases, _frame_key
            )
        ],
        "join": lambda i: _hostile_join(b, i, detection_cases, verdict_cases),
        "outcomes": lambda i: [
            _generic(b, "Outcome", topics.outcomes, _hostile_outcome(), "frame_id", i)
        ],
        "alerts": lambda i: [
            _generic(b, "Alert", topics.alerts, _hostile_alert(), "checkpoint", i)
        ],
        "updates": lambda i: [
            _generic(b, "ModelUpdate", topics.model_updates, _hostile_update(), "model_version", i)
        ],
        "status": lambda i: [
            _generic(
                b,
                "ModelStatus",
                topics.model_status,
                ModelStatus(
                    checkpoint=HOSTILE_CHECKPOINT,
                    worker_id="fuzz",
                    model_version="m1",
                    state="active",
                ),
                "checkpoint",
                i,
            )
        ],
        "letters": lambda i: [
            _generic(
                b,
                "DeadLetter",
                topics.dead_letters,
                DeadLetter(
                    source_topic="fuzz-source",
                    partition=0,
                    offset=i,
                    error_class="E",
                    reason="r",
                    original=b"",
                    worker_id="fuzz",
                ),
                "source_topic",
                i,
            )
        ],
    }
    for i in range(hostile):
        for stream, make in hostile_makers.items():
            b.plan.sends.extend(make(i))
            if (
                i % HOSTILE_PER_VALID == HOSTILE_PER_VALID - 1
                and i // HOSTILE_PER_VALID < valid_count
            ):
                b.plan.sends.extend(valid[stream][i // HOSTILE_PER_VALID])
    for stream in hostile_makers:
        for sends in valid[stream][valid_count:]:
            b.plan.sends.extend(sends)
    return b.plan


def _phase(index: int, valid_count: int) -> Phase:
    return "valid" if index < valid_count else "tail"


def _frame_key(record: dict[str, Any]) -> str:
    return f"{record['checkpoint']}/{record['lane']}"


def _hostile_join(
    b: _Builder,
    index: int,
    detection_cases: list[Case],
    verdict_cases: list[Case],
) -> list[Send]:
    """A hostile detection and a hostile verdict; a targeted detection comes with a plain
    verdict of its frame, so the cloud joins it and acts on what it says."""
    topics = b.topics
    det = b.hostile(
        "Detection",
        topics.detections,
        index,
        b.cases.detection_template(index),
        detection_cases,
        lambda r: r.get("frame_id"),
    )
    sends = [det]
    if det.case not in ("mutated", "random"):
        record = _CODEC.decode_record(det.value, "Detection", logical_types=False)
        sends.append(b.verdict_for(record))
    sends.append(
        b.hostile(
            "GuardVerdict",
            topics.verdicts,
            index,
            verdict(b.cases.detection_template(index + 1_000_000)),
            verdict_cases,
            lambda r: r.get("frame_id"),
        )
    )
    return sends


def _hostile_outcome() -> Outcome:
    ident = uuid.uuid4()
    return Outcome(
        event_id=ident,
        checkpoint=HOSTILE_CHECKPOINT,
        lane="1",
        frame_id="fuzz/1/o",
        outcome_id=ident,
        model_version="m1",
        object_id="o0",
        kind="tp",
        class_name="usb",
        box=obj("o0", (1, 1, 2, 2)).box,
        detection_event_id=uuid.uuid4(),
    )


def _hostile_alert() -> Alert:
    return Alert(
        checkpoint=HOSTILE_CHECKPOINT,
        lane="1",
        frame_id="fuzz/1/a",
        alert_id=uuid.uuid4(),
        model_version="m1",
        items=(obj("o0", (1, 1, 9, 9)),),
    )


def _hostile_update() -> ModelUpdate:
    return ModelUpdate(
        model_version="fuzz-model",
        artifact_uri="file:///etc/passwd",
        sha256="0" * 64,
        signature=b"",
        signing_key_id="k",
        rollout_mode="active",
        label_map=(LabelMapEntry(class_id=0, class_name="phone"),),
    )
