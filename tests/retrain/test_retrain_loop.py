"""Acceptance on the real broker: annotations in (among them the auto-labels of a review
that corrected an alarm's class, which the training set keeps) => a retrain in a child process
=> a signed artifact => ModelUpdate => a real edge worker switches version without losing or
double-processing a frame; tampered, wrongly signed and pickled models are refused while the
old model serves; a deliberately worse model is rolled back by the edge itself."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from confluent_kafka import Message, Producer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detector.artifacts import MODEL_FILE
from leakguard.classes import CLASS_IDS
from retrain.annotation.auto_label import auto_annotation
from retrain.consumer import RetrainConsumer
from retrain.cycle import CycleResult, RetrainConfig, Retrainer
from retrain.job import JobProgress
from retrain.registry import Registry
from retrain.trainset import FrozenSet, provenance_of
from schemas import Codec
from schemas.events import (
    Annotation,
    Box,
    DeadLetter,
    Detection,
    ImageLink,
    ModelStatus,
    ModelUpdate,
    Outcome,
    OutcomeKindName,
    ScanFrame,
)
from schemas.images import png_payload
from schemas.topics import Topics
from streams.frame_store import FrameStore
from streams.logic.annotation import build_annotation_tasks
from streams.logic.outcomes import match_outcomes
from tests.kafka_kit import StreamTopics, decoded, read_topic
from tests.retrain.retrain_helpers import annotation, save_tiny
from tests.streams.conftest import Workers
from tests.streams.helpers import detection, labeled, obj, png, verdict

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CODEC = Codec()
#: Frame 0's alarm that the guard reclassified (laptop -> tablet).
CORRECTED_BOX = (10.0, 10.0, 50.0, 40.0)


def _frame(index: int) -> ScanFrame:
    lane = str(index % 2)
    return ScanFrame(
        checkpoint="cp",
        lane=lane,
        frame_id=f"cp/{lane}/{index:06d}",
        scanner_id="s",
        view_id="top",
        image=png_payload(png(96, 96, seed=index % 7)),
    )


class Frames:
    """Sends frames at a steady pace from a thread, so swaps happen mid-stream."""

    def __init__(self, out: Producer, topic: str) -> None:
        self.out, self.topic, self.sent = out, topic, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def send(self, n: int) -> None:
        for _ in range(n):
            frame = _frame(self.sent)
            self.out.produce(self.topic, key=f"cp/{frame.lane}".encode(), value=CODEC.encode(frame))
            self.sent += 1
        self.out.flush(30)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.send(1)

    def __enter__(self) -> Frames:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


#: A condition on the statuses read so far.
StatusCheck = Callable[[list[ModelStatus]], bool]


def _statuses(topics: StreamTopics, workers: Workers, until: StatusCheck) -> list[ModelStatus]:
    messages = read_topic(
        topics.bootstrap,
        topics.prefix + "model.status",
        until=lambda got: until(decoded(got, ModelStatus)),
        timeout_s=180,
        check=workers.check_alive,
    )
    return decoded(messages, ModelStatus)


def _refused_decisions(messages: list[Message]) -> list[str]:
    """The reasons of the dead letters of ``model.updates`` messages the edge refused."""
    return [
        d.reason
        for d in decoded(messages, DeadLetter)
        if d.source_topic.endswith("model.updates")
        and d.error_class.endswith("DecisionRefusedError")
    ]


def _has(version: str, state: str, fragment: str = "") -> StatusCheck:
    return lambda got: any(
        s.model_version == version and s.state == state and fragment in (s.error or "") for s in got
    )


def _detections(topics: StreamTopics, workers: Workers, count: int) -> list[Detection]:
    messages = read_topic(
        topics.bootstrap,
        topics.names.detections,
        until=lambda got: len(got) >= count,
        timeout_s=180,
        check=workers.check_alive,
    )
    return decoded(messages, Detection)


def _lanes_served(messages: list[Message], version: str) -> set[str]:
    """The lanes of the detections in ``messages`` that ``version`` made."""
    return {d.lane for d in decoded(messages, Detection) if d.model_version == version}


def _corrected_review_labels(image: ImageLink) -> list[Annotation]:
    """The auto-labels of frame 0's review: the laptop alarm confirmed as a tablet, another
    alarm rejected, a missed SD card; as the cloud worker and the annotation bridge make them."""
    det = detection(
        obj("o0", CORRECTED_BOX, class_name="laptop"),
        obj("o1", (60, 60, 90, 90), class_name="hdd"),
        frame_id="cp/1/000000",
        image=image,
    )
    review = verdict(
        det,
        rejected=("o1",),
        missed=(labeled((70, 10, 90, 30), "sdcard"),),
        corrected=(("o0", "tablet"),),
    )
    tasks = build_annotation_tasks(det, review, match_outcomes(det, review), image=image)
    return [auto_annotation(task) for task in tasks]


def _classes_at(frozen: FrozenSet, box: tuple[float, float, float, float]) -> list[int]:
    """The class ids the frozen training set holds for ``box``, over all its frames."""
    samples = provenance_of(frozen)["samples"]
    return [o["class_id"] for s in samples for o in s["objects"] if tuple(o["box"]) == box]


def _sent_after(detections: list[Detection], first: int) -> list[Detection]:
    """Detections of the frames with index >= ``first``, in frame order."""
    picked = [d for d in detections if int(d.frame_id.rsplit("/", 1)[1]) >= first]
    return sorted(picked, key=lambda d: d.frame_id.rsplit("/", 1)[1])


def test_the_whole_loop_on_the_real_broker(
    stream_topics: StreamTopics,
    workers: Workers,
    signing_key: Ed25519PrivateKey,
    public_key_file: Path,
    alarming_artifact: Path,
    tmp_path: Path,
) -> None:
    prefix = stream_topics.prefix
    out = stream_topics.producer()

    decisions: list[ModelUpdate] = []

    def announce(update: ModelUpdate) -> None:
        decisions.append(update)
        out.produce(
            prefix + "model.updates", key=update.model_version.encode(), value=CODEC.encode(update)
        )
        out.flush(30)

    registry = Registry(tmp_path / "registry", signing_key=signing_key, announce=announce)
    registry.register(alarming_artifact, parent=None)
    registry.promote("v0001", mode="active")
    workers.start(
        "edge",
        "--model", str(registry.artifact_dir("v0001")),
        "--frame-store", str(tmp_path / "edge-frames"),
        "--trusted-key", str(public_key_file),
        "--model-cache", str(tmp_path / "cache"),
        "--checkpoint", "cp",
        "--rollback-min-outcomes", "10",
        "--status-interval", "1",
    )  # fmt: skip

    # annotations in => retrain in a child process => gate => signed candidate in shadow;
    # frame 0's are the auto-labels of a review that corrected a laptop alarm to a tablet
    store = FrameStore(str(tmp_path / "cloud-frames"))
    for i in range(12):
        image = png(96, 96, seed=100 + i)
        link = store.stage(image, checkpoint="cp", lane="1", frame_id=f"cp/1/{i:06d}")
        events = (
            _corrected_review_labels(link)
            if i == 0
            else [dataclasses.replace(annotation(i, image), image=link)]
        )
        for event in events:
            out.produce(
                prefix + "annotations", key=event.frame_id.encode(), value=CODEC.encode(event)
            )
    out.produce(prefix + "annotations", key=b"bad", value=b"not an annotation")
    out.flush(30)
    retrainer = Retrainer(
        config=RetrainConfig(
            workdir=tmp_path / "work", trigger_samples=12, steps=40, batch_size=2, lr=1e-2
        ),
        registry=registry,
    )
    results: list[CycleResult] = []
    consumer = RetrainConsumer(
        retrainer=retrainer,
        fetch_image=store.get,
        bootstrap_servers=stream_topics.bootstrap,
        group_id=prefix + "retrain",
        topics=Topics().prefixed(prefix),
        on_cycle=results.append,
    )
    with Frames(out, stream_topics.names.frames) as frames:
        deadline = time.monotonic() + 300
        consumer.run(should_stop=lambda: bool(results) or time.monotonic() > deadline)
        assert results, "no retrain cycle finished"
        assert consumer.added == 13  # frame 0: its fp and fn tasks' auto-labels
        (trained_on,) = retrainer.store.sets()
        assert _classes_at(trained_on, CORRECTED_BOX) == [CLASS_IDS["tablet"]]
        assert results[0].job.passed, results[0].job.reasons
        reported = JobProgress.read(Path(results[0].job.artifact_dir).parents[1])
        assert reported == JobProgress("gating", 40, 40, None)
        assert registry.get("v0002").state == "shadow"
        _statuses(stream_topics, workers, _has("v0002", "shadow"))
        registry.promote("v0002", mode="active")
        _statuses(stream_topics, workers, _has("v0002", "active"))
        read_topic(  # frames keep coming until both lanes have been served by v0002
            stream_topics.bootstrap,
            stream_topics.names.detections,
            until=lambda got: _lanes_served(got, "v0002") == {"0", "1"},
            timeout_s=180,
            check=workers.check_alive,
        )
    detections = _detections(stream_topics, workers, frames.sent)
    assert len(detections) == frames.sent  # none lost, none twice
    assert len({d.frame_id for d in detections}) == frames.sent
    for lane in "01":
        in_order = sorted((d for d in detections if d.lane == lane), key=lambda d: d.frame_id)
        versions = [d.model_version for d in in_order]
        switch = versions.index("v0002")
        assert set(versions[:switch]) == {"v0001"}
        assert set(versions[switch:]) == {"v0002"}
    dead = read_topic(
        stream_topics.bootstrap,
        stream_topics.names.dead_letters,
        until=lambda got: len(got) >= 1,
        timeout_s=30,
    )
    assert any(m.value() and b"not an annotation" in m.value() for m in dead)

    # refused while v0002 keeps serving: tampered weights and a bad artifact signature (the
    # edge reports them), a decision no registry made and a replayed old one (dead letters)
    registry.register(Path(results[0].job.artifact_dir), parent="v0002")
    registry.register(Path(results[0].job.artifact_dir), parent="v0002")
    tampered = registry.artifact_dir("v0003") / MODEL_FILE
    blob = bytearray(tampered.read_bytes())
    blob[-1] ^= 0xFF
    tampered.write_bytes(bytes(blob))
    registry.promote("v0003", mode="canary")
    badly_signed = dataclasses.replace(registry.get("v0004"), state="canary", signature=bytes(64))
    announce(registry.update_event(badly_signed))
    pickle = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pickle)
    forged = dataclasses.replace(
        decisions[-1],
        model_version="v0099",
        artifact_uri=pickle.as_uri(),
        sha256=hashlib.sha256(pickle.read_bytes()).hexdigest(),
        sequence=(decisions[-1].sequence or 0) + 1,
    )
    announce(forged)
    announce(decisions[0])  # v0001's activation once more: a downgrade if it were applied
    statuses = _statuses(
        stream_topics,
        workers,
        lambda got: all(_has(v, "rejected")(got) for v in ("v0003", "v0004")),
    )
    errors = {s.model_version: s.error or "" for s in statuses if s.state == "rejected"}
    assert "SHA-256" in errors["v0003"]
    assert "signature" in errors["v0004"]
    assert all(s.active_version == "v0002" for s in statuses if s.state == "rejected")
    assert not any(s.rolled_back for s in statuses), "a refusal is no rollback"
    refused = read_topic(
        stream_topics.bootstrap,
        stream_topics.names.dead_letters,
        until=lambda got: len(_refused_decisions(got)) >= 2,
        timeout_s=60,
        check=workers.check_alive,
    )
    reasons = _refused_decisions(refused)
    assert any("signature does not match" in r for r in reasons), reasons
    assert any("a replay" in r for r in reasons), reasons
    assert not any(s.model_version == "v0099" for s in statuses)
    sent = frames.sent
    frames.send(4)
    after = _sent_after(_detections(stream_topics, workers, sent + 4), sent)
    assert [d.model_version for d in after] == ["v0002"] * 4

    # a deliberately worse model is rolled back by the edge on live outcomes
    worse = save_tiny(tmp_path / "worse", version="worse", phone_bias=1.0, seed=3)
    registry.register(worse, parent="v0002")
    registry.promote("v0005", mode="active")
    _statuses(stream_topics, workers, _has("v0005", "active"))
    baseline = [_outcome(d, "tp") for d in after]
    sent = frames.sent
    frames.send(10)
    served = _sent_after(_detections(stream_topics, workers, sent + 10), sent)
    assert {d.model_version for d in served} == {"v0005"}
    for outcome in [*baseline, *(_outcome(d, "fp") for d in served)]:
        out.produce(prefix + "outcomes", key=outcome.frame_id.encode(), value=CODEC.encode(outcome))
    out.flush(30)
    statuses = _statuses(stream_topics, workers, _has("v0005", "rejected", "false-alarm rate"))
    rollback = next(s for s in statuses if s.model_version == "v0005" and s.state == "rejected")
    assert rollback.rolled_back
    assert rollback.active_version == "v0002"
    assert "false-alarm rate 1.00" in (rollback.error or "")
    sent = frames.sent
    frames.send(4)
    last = _sent_after(_detections(stream_topics, workers, sent + 4), sent)
    assert [d.model_version for d in last] == ["v0002"] * 4


def _outcome(detection: Detection, kind: OutcomeKindName) -> Outcome:
    return Outcome(
        checkpoint=detection.checkpoint,
        lane=detection.lane,
        frame_id=detection.frame_id,
        outcome_id=uuid.uuid4(),
        model_version=detection.model_version,
        object_id="o0",
        kind=kind,
        class_name="phone",
        box=Box(x1=0, y1=0, x2=4, y2=4),
        detection_event_id=detection.event_id,
    )
