"""The versioned training set and a whole retrain cycle (child-process job, gate, registry)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detector.artifacts import load_artifact
from detector.training.dataset import CocoDetectionDirectory
from leakguard.classes import CLASS_IDS
from retrain.annotation.auto_label import CORRECTIONS_ONLY, REVIEWED_OBJECTS, auto_annotation
from retrain.cycle import RetrainConfig, Retrainer
from retrain.exceptions import TrainingSetError
from retrain.registry import Registry
from retrain.trainset import TrainingSetStore
from schemas.events import Box, ImageLink, LabeledBox, now_ms
from streams.logic.annotation import build_annotation_tasks
from streams.logic.outcomes import match_outcomes
from tests.retrain.retrain_helpers import annotation
from tests.streams.helpers import detection, labeled, obj, png, verdict


def test_frames_accrue_once_and_freeze_into_a_coco_set_with_provenance(tmp_path: Path) -> None:
    store = TrainingSetStore(tmp_path / "sets")
    images = [png(96, 96, seed=i) for i in range(10)]
    events = [annotation(i, img) for i, img in enumerate(images)]
    assert all(store.add(e, img) for e, img in zip(events, images, strict=True))
    assert not store.add(events[0], images[0])  # redelivered: not added twice
    newer = annotation(1, images[1], others=False)
    assert store.add(newer, images[1])  # a re-annotation replaces the older one
    late = annotation(2, images[2])
    late = dataclasses.replace(late, event_time=now_ms() - timedelta(days=1))
    assert not store.add(late, images[2])
    assert store.pending_count() == 10
    frozen = store.freeze()
    assert store.pending_count() == 0
    assert frozen.train_images + frozen.holdout_images == 10
    assert frozen.holdout_images >= 1
    train = CocoDetectionDirectory(frozen.train_dir)
    assert len(train) == frozen.train_images
    provenance = json.loads((frozen.root / "provenance.json").read_text())["samples"]
    by_frame = {s["frame_id"]: s for s in provenance}
    assert by_frame["cp/1/000001"]["annotation_id"] == str(newer.annotation_id)
    assert by_frame["cp/1/000001"]["objects"] == []
    assert by_frame["cp/1/000003"]["provenance"] == {"rule": "guard rejected"}
    assert by_frame["cp/1/000003"]["source"] == "auto_label"
    assert [s.name for s in store.sets()] == ["t0001"]


def test_auto_labels_of_a_frames_fp_and_fn_tasks_add_up(tmp_path: Path) -> None:
    store = TrainingSetStore(tmp_path / "sets")
    image = png(96, 96, seed=1)
    base = annotation(1, image)
    confirmed = LabeledBox(class_name="phone", box=Box(x1=70, y1=10, x2=90, y2=30))
    fp = dataclasses.replace(
        base,
        task_id=uuid.uuid4(),
        objects=(*base.objects, confirmed),
        provenance={"coverage": REVIEWED_OBJECTS},
    )
    missed = LabeledBox(class_name="usb", box=Box(x1=40, y1=40, x2=70, y2=60))
    fn = dataclasses.replace(
        fp, annotation_id=uuid.uuid4(), task_id=uuid.uuid4(), objects=(missed, confirmed)
    )
    assert store.add(fp, image)
    assert store.add(fn, image)
    assert store.add(dataclasses.replace(fp, annotation_id=uuid.uuid4()), image)  # replayed
    (record,) = store.pending().values()
    # The rejected alarm, the missed item, and the alarm both tasks carry, once.
    assert sorted(o["class_id"] for o in record["objects"]) == [3, 4, 9]
    # An older auto-label (corrections only) of a frame's other task adds up as well.
    older = dataclasses.replace(
        fn,
        annotation_id=uuid.uuid4(),
        task_id=uuid.uuid4(),
        objects=(missed,),
        provenance={"coverage": CORRECTIONS_ONLY},
    )
    assert store.add(older, image)
    (record,) = store.pending().values()
    assert sorted(o["class_id"] for o in record["objects"]) == [3, 4, 9]
    # A full annotation (Label Studio) of the frame replaces the partial ones.
    full = dataclasses.replace(
        fn, annotation_id=uuid.uuid4(), task_id=None, objects=(missed,), provenance={}
    )
    assert store.add(full, image)
    (record,) = store.pending().values()
    assert [o["class_id"] for o in record["objects"]] == [4]


def test_a_class_the_guard_corrected_is_what_the_fine_tune_learns(tmp_path: Path) -> None:
    """A tablet alarmed as a laptop and confirmed as a tablet reaches the training
    set as a tablet, through the cloud worker's tasks and their auto-labels."""
    image = png(128, 128, seed=3)
    link = ImageLink(uri="file:///store/cp/1/f.png", sha256=hashlib.sha256(image).hexdigest())
    det = detection(
        obj("o0", (10, 10, 50, 40), class_name="laptop"),
        obj("o1", (60, 10, 80, 30)),
        obj("o2", (10, 60, 40, 90), class_name="hdd"),
    )
    ver = verdict(
        det,
        rejected=("o2",),
        missed=(labeled((90, 90, 110, 110), "sdcard"),),
        corrected=(("o0", "tablet"),),
    )
    tasks = build_annotation_tasks(det, ver, match_outcomes(det, ver), image=link)
    assert [t.reason for t in tasks] == ["fp", "fn"]
    store = TrainingSetStore(tmp_path / "sets")
    for task in tasks:
        assert store.add(auto_annotation(task), image)
    (record,) = store.pending().values()
    by_box = {tuple(o["box"]): o["class_id"] for o in record["objects"]}
    assert by_box == {
        (10, 10, 50, 40): CLASS_IDS["tablet"],
        (60, 10, 80, 30): CLASS_IDS["phone"],
        (10, 60, 40, 90): CLASS_IDS["others"],
        (90, 90, 110, 110): CLASS_IDS["sdcard"],
    }
    frozen = store.freeze()
    split = frozen.holdout_dir if frozen.holdout_images else frozen.train_dir
    coco = json.loads((split / "annotations.json").read_text())
    categories = sorted(a["category_id"] for a in coco["annotations"])
    assert categories == sorted(by_box.values())
    assert CLASS_IDS["laptop"] not in categories


def test_bad_images_and_boxes_are_refused(tmp_path: Path) -> None:
    store = TrainingSetStore(tmp_path / "sets")
    image = png(96, 96, seed=1)
    with pytest.raises(TrainingSetError, match="SHA-256"):
        store.add(annotation(0, image), png(96, 96, seed=2))
    event = annotation(0, image)
    outside = LabeledBox(class_name="phone", box=Box(x1=50, y1=50, x2=200, y2=60))
    with pytest.raises(TrainingSetError, match="outside"):
        store.add(dataclasses.replace(event, objects=(outside,)), image)
    with pytest.raises(TrainingSetError, match="no pending"):
        store.freeze()


@pytest.mark.slow
def test_a_cycle_fine_tunes_the_active_model_and_the_gate_lets_it_into_shadow(
    registry: Registry, alarming_artifact: Path, tmp_path: Path
) -> None:
    registry.register(alarming_artifact, parent=None, state="active")
    retrainer = Retrainer(
        config=RetrainConfig(
            workdir=tmp_path / "work", trigger_samples=12, steps=40, batch_size=2, lr=1e-2
        ),
        registry=registry,
    )
    for i in range(12):
        image = png(96, 96, seed=100 + i)
        retrainer.store.add(annotation(i, image), image)
    assert retrainer.due() == "count"
    result = retrainer.run_once()
    assert result.job.passed, result.job.reasons
    record = registry.get(result.record.version)
    assert (record.version, record.parent, record.state) == ("v0002", "v0001", "shadow")
    assert record.training_set == "t0001"
    parent = record.metrics["gate/parent_mistakes_per_frame"]
    assert parent >= 1.0  # the alarming parent alarms on every held-out frame
    assert record.metrics["gate/candidate_mistakes_per_frame"] < parent


def test_a_candidate_with_a_base_hold_out_ships_its_own_signed_operating_point(
    registry: Registry,
    alarming_artifact: Path,
    signing_key: Ed25519PrivateKey,
    tmp_path: Path,
) -> None:
    """The job calibrates the candidate on the base hold-out and records the point in its
    card before the registry signs it; the gate reads the candidate's rates there."""
    base_store = TrainingSetStore(tmp_path / "base")
    phone = LabeledBox(class_name="phone", box=Box(x1=20, y1=20, x2=60, y2=70))
    for i in range(6):
        image = png(96, 96, seed=300 + i)
        base_store.add(dataclasses.replace(annotation(i, image), objects=(phone,)), image)
    base = base_store.freeze()
    registry.register(alarming_artifact, parent=None, state="active")
    config = RetrainConfig(
        workdir=tmp_path / "work",
        trigger_samples=6,
        steps=10,
        batch_size=2,
        lr=1e-3,
        base_holdout_dir=base.train_dir,
    )
    retrainer = Retrainer(config=config, registry=registry)
    for i in range(6):
        image = png(96, 96, seed=400 + i)
        retrainer.store.add(annotation(i, image), image)
    result = retrainer.run_once()
    card = load_artifact(
        registry.artifact_dir(result.record.version), public_key=signing_key.public_key()
    ).card
    point = card.operating_point
    assert point is not None
    assert point.edge_threshold == config.alarm_threshold <= point.alarm_threshold
    metrics = result.job.metrics
    assert metrics["gate/candidate_alarm_threshold"] == point.alarm_threshold
    assert point.miss_rate == metrics["gate/candidate_base_miss_rate"]
    if point.alarm_threshold > config.alarm_threshold:  # raised only as far as misses allow
        assert point.miss_rate <= metrics["gate/parent_base_miss_rate"]
