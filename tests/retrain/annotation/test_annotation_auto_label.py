"""Auto-label mode against the real broker: corrections become annotations, bad input is
dead-lettered, and the worker carries on."""

from __future__ import annotations

import threading

import pytest

from retrain.annotation.auto_label import AUTO_LABELLER, AutoLabelPolicy
from retrain.annotation.exceptions import BridgeConfigurationError
from schemas.authenticity import EventKeyring, add_keys
from schemas.events import Annotation, DeadLetter, ImageLink
from tests.kafka_kit import TopicReader, make_producer
from tests.retrain.annotation.annotation_helpers import (
    CODEC,
    fn_task,
    fp_task,
    kept_image,
    running,
    send_tasks,
)
from tests.retrain.annotation.conftest import BridgeRig

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_auto_label_emits_corrections_and_dead_letters_a_missing_image(
    kafka_rig: BridgeRig,
) -> None:
    store = kafka_rig.tmp_path / "frames"
    link_a, _ = kept_image(store, frame_id="a", seed=1)
    link_b, _ = kept_image(store, frame_id="b", seed=2)
    missing = ImageLink(uri=str(store / "kept" / "gone.png"), sha256="0" * 64)
    tasks = [
        fp_task(link_a, frame_id="a"),
        fn_task(missing, frame_id="x"),
        fn_task(link_b, frame_id="b"),
    ]
    values = [CODEC.encode(task) for task in tasks] + [b"not avro at all"]
    send_tasks(kafka_rig.bootstrap, kafka_rig.topics, values)
    bridge = kafka_rig.bridge(policy=AutoLabelPolicy.of(["*"]), client=None)
    annotations = TopicReader(kafka_rig.bootstrap, kafka_rig.topics.annotations)
    letters = TopicReader(kafka_rig.bootstrap, kafka_rig.topics.dead_letters)
    with running(bridge, threading.Event()):
        got = annotations.events(Annotation, at_least=2, timeout_s=90, settle_s=2)
        dead = letters.events(DeadLetter, at_least=2, timeout_s=60)
    annotations.close()
    letters.close()
    assert sorted(a.frame_id for a in got) == ["a", "b"]
    by_frame = {a.frame_id: a for a in got}
    assert by_frame["a"].task_id == tasks[0].task_id
    assert [(o.class_name, o.subtype) for o in by_frame["a"].objects] == [
        ("others", "fp:hdd"),
        ("others", "fp:phone"),
    ]
    assert [o.class_name for o in by_frame["b"].objects] == ["usb"]
    assert all(a.source == "auto_label" and a.annotator == AUTO_LABELLER for a in got)
    reasons = {letter.original: letter.reason for letter in dead}
    assert "cannot read" in reasons[values[1]]
    assert "gone.png" in reasons[values[1]]
    assert values[3] in reasons


def test_without_label_studio_every_checkpoint_must_be_auto_labelled(kafka_rig: BridgeRig) -> None:
    with pytest.raises(BridgeConfigurationError, match="LABEL_STUDIO_URL"):
        kafka_rig.bridge(policy=AutoLabelPolicy.of(["hq-north"]), client=None)


def test_with_a_keyring_only_the_cloud_s_tasks_become_tagged_annotations(
    kafka_rig: BridgeRig,
) -> None:
    """A forged task (the cloud did not tag it) would be labelled and taught to the
    detector: it is dead-lettered; the cloud's task becomes an annotation tagged with the
    bridge's key, which the retrain consumer checks."""
    ring = kafka_rig.tmp_path / "events.json"
    add_keys(ring, ["cloud:*", "annotator:*"])
    keyring = EventKeyring.load(ring)
    store = kafka_rig.tmp_path / "frames"
    link_a, _ = kept_image(store, frame_id="a", seed=1)
    link_b, _ = kept_image(store, frame_id="b", seed=2)
    genuine, forged = (
        CODEC.encode(fp_task(link_a, frame_id="a")),
        CODEC.encode(fn_task(link_b, frame_id="b")),
    )
    producer = make_producer(kafka_rig.bootstrap)
    producer.produce(
        kafka_rig.topics.annotation_tasks,
        value=genuine,
        headers=keyring.headers("cloud:*", genuine),
    )
    producer.produce(kafka_rig.topics.annotation_tasks, value=forged)
    assert producer.flush(10) == 0
    bridge = kafka_rig.bridge(policy=AutoLabelPolicy.of(["*"]), client=None, keyring=keyring)
    with (
        TopicReader(kafka_rig.bootstrap, kafka_rig.topics.annotations) as annotations,
        TopicReader(kafka_rig.bootstrap, kafka_rig.topics.dead_letters) as letters,
        running(bridge, threading.Event()),
    ):
        (message,) = annotations.poll_until(lambda got: len(got) >= 1, timeout_s=90)
        dead = letters.events(DeadLetter, at_least=1, timeout_s=60)
    annotation = CODEC.decode(message.value(), Annotation)
    assert annotation.frame_id == "a"
    assert keyring.check(annotation, message.value(), message.headers()) == "annotator:*"
    assert [(d.original, "carries no producer tag" in d.reason) for d in dead] == [(forged, True)]
