"""The cloud worker for real: scripted detections and verdicts, in a shuffled order, through
a ``leakguard worker --role cloud`` subprocess on the real broker; the expected TP / FP / FN
/ unreviewed outcomes, alerts, annotation tasks and kept images come out (a reclassified
alarm with the guard's class), and replays and a late verdict add nothing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from confluent_kafka import Message
from confluent_kafka.admin import AdminClient, ConfigResource

from schemas import Alert, AnnotationTask, Codec, Outcome
from schemas.events import Detection, GuardVerdict
from streams.config import WorkerConfig
from streams.frame_store import FrameStore
from tests.kafka_kit import StreamTopics, decoded, ends_of, read_topic, wait_committed
from tests.streams.conftest import Workers
from tests.streams.helpers import detection, labeled, obj, png, verdict

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Review deadline of the worker under test: long enough for the scripted verdicts.
UNREVIEWED_AFTER_S = 8


def _script(group: str) -> tuple[list[Detection | GuardVerdict], set[tuple[str, str, str]]]:
    """Events of five frames (detection first) and the outcomes they must give."""
    f1 = detection(obj("o0", (0, 0, 10, 10)), obj("o1", (20, 20, 40, 40)), frame_id=f"f1{group}")
    f2 = detection(
        obj("o0", (0, 0, 10, 10)),
        obj("o1", (50, 50, 70, 70), alarmed=False, score=0.3),
        frame_id=f"f2{group}",
    )
    f3 = detection(obj("o0", (0, 0, 10, 10)), frame_id=f"f3{group}")
    f4 = detection(obj("o0", (5, 5, 9, 9)), frame_id=f"f4{group}")
    f5 = detection(obj("o0", (0, 0, 12, 12), class_name="laptop"), frame_id=f"f5{group}")
    events: list[Detection | GuardVerdict] = [
        f1,
        verdict(f1, rejected=("o1",)),
        f2,
        verdict(f2, missed=(labeled((52, 52, 70, 70)),)),
        f3,
        f4,
        verdict(f4, decision="cleared"),
        f5,
        verdict(f5, corrected=(("o0", "tablet"),)),
    ]
    expected = {
        (f"f1{group}", "o0", "tp"),
        (f"f1{group}", "o1", "fp"),
        (f"f2{group}", "o0", "tp"),
        (f"f2{group}", "missed-0", "fn"),
        (f"f3{group}", "o0", "unreviewed"),
        (f"f4{group}", "o0", "fp"),
        (f"f5{group}", "o0", "tp"),
    }
    return events, expected


def _arrivals() -> tuple[list[Detection | GuardVerdict], set[tuple[str, str, str]]]:
    """Group ``a`` arrives detection first, group ``b`` verdict first, ``c`` shuffled."""
    a, expected_a = _script("a")
    b, expected_b = _script("b")
    c, expected_c = _script("c")
    b = [e for e in b if isinstance(e, GuardVerdict)] + [e for e in b if isinstance(e, Detection)]
    random.Random(7).shuffle(c)
    events = [e for triple in zip(a, b, c, strict=True) for e in triple]
    return events, expected_a | expected_b | expected_c


def _count(events: list[Detection | GuardVerdict], kind: type[Detection | GuardVerdict]) -> int:
    return sum(isinstance(event, kind) for event in events)


def _sent(topics: StreamTopics, topic: str, count: int) -> list[Message]:
    """The ``count`` messages the test sent to ``topic``."""
    sent = read_topic(topics.bootstrap, topic, until=lambda got: len(got) >= count, timeout_s=30)
    assert len(sent) == count, f"{len(sent)} of {count} messages on {topic}"
    return sent


def _wait_handled(
    topics: StreamTopics, workers: Workers, *, detections: int, verdicts: int
) -> None:
    """Until the cloud worker's group has committed past the ``detections`` and ``verdicts``
    messages sent: Faust flushes what it produced before it commits, so every outcome those
    messages caused is on the broker then."""
    sent = [
        *_sent(topics, topics.names.detections, detections),
        *_sent(topics, topics.names.verdicts, verdicts),
    ]
    group = f"{topics.prefix}leakguard-cloud"  # the worker's Faust app id
    wait_committed(topics.bootstrap, group, ends_of(sent), timeout_s=90, check=workers.check_alive)


def test_scripted_verdicts_give_the_expected_outcomes(
    stream_topics: StreamTopics, workers: Workers, tmp_path: Path
) -> None:
    codec = Codec()
    names = stream_topics.names
    store = FrameStore(str(tmp_path / "fs"))
    for frame_id in (f"f{i}{g}" for i in range(1, 6) for g in "abc"):
        store.stage(png(16, 16, seed=len(frame_id)), checkpoint="cp", lane="1", frame_id=frame_id)
    workers.start(
        "cloud",
        "--frame-store",
        str(tmp_path / "fs"),
        "--unreviewed-after",
        str(UNREVIEWED_AFTER_S),
        "--expiry-check",
        "1",
    )
    events, expected = _arrivals()
    out = stream_topics.producer()

    def send(event: Detection | GuardVerdict) -> None:
        topic = names.detections if isinstance(event, Detection) else names.verdicts
        out.produce(topic, key=event.frame_id.encode(), value=codec.encode(event))

    for event in events:
        send(event)
    out.flush(10)

    def outcomes() -> list[Outcome]:
        messages = read_topic(
            stream_topics.bootstrap,
            names.outcomes,
            until=lambda got: len(got) >= len(expected),
            timeout_s=90,
            check=workers.check_alive,
        )
        return decoded(messages, Outcome)

    got = outcomes()
    assert {(o.frame_id, o.object_id, o.kind) for o in got} == expected, workers.logs()
    # Replays of every event and a verdict for the unreviewed frame add nothing.
    late = [verdict(e) for e in events if isinstance(e, Detection) and e.frame_id[:2] == "f3"]
    for event in [*events, *late]:
        send(event)
    out.flush(10)
    _wait_handled(
        stream_topics,
        workers,
        detections=2 * _count(events, Detection),
        verdicts=2 * _count(events, GuardVerdict) + len(late),
    )
    again = read_topic(stream_topics.bootstrap, names.outcomes, until=lambda _: False, timeout_s=3)
    assert len(again) == len(expected)
    assert {o.score for o in got if o.kind == "fn"} == {0.3}
    assert {o.guard_id for o in got if o.kind == "unreviewed"} == {None}
    assert len({o.outcome_id for o in got}) == len(got)
    assert {o.class_name for o in got if o.frame_id[:2] == "f5"} == {"tablet"}

    alerts = read_topic(
        stream_topics.bootstrap, names.alerts, until=lambda g: len(g) >= 9, timeout_s=10
    )
    frames = sorted(a.frame_id for a in decoded(alerts, Alert))
    assert frames == sorted(f"f{i}{g}" for i in (1, 2, 5) for g in "abc")
    tasks = read_topic(
        stream_topics.bootstrap, names.annotation_tasks, until=lambda g: len(g) >= 12, timeout_s=10
    )
    annotation_tasks = decoded(tasks, AnnotationTask)
    assert sorted((t.frame_id[:2], t.reason) for t in annotation_tasks) == sorted(
        [("f1", "fp"), ("f2", "fn"), ("f4", "fp"), ("f5", "fp")] * 3
    )
    reclassified = {
        (p.class_name, p.source)
        for t in annotation_tasks
        if t.frame_id[:2] == "f5"
        for p in t.pre_annotations
    }
    assert reclassified == {("tablet", "guard")}
    assert all(store.get(t.image) for t in annotation_tasks)  # the kept image, verified
    kept = sorted(p.name.split(".")[0] for p in (tmp_path / "fs" / "kept").rglob("*.png"))
    assert kept == sorted(f"f{i}{g}" for i in (1, 2, 4, 5) for g in "abc")
    _assert_entries_on_their_frames_partitions(stream_topics)


def _assert_entries_on_their_frames_partitions(topics: StreamTopics) -> None:
    """Every join table entry went to the changelog partition of its frame (the partition
    its events came in on), though the join writes a batch's entries after the batch: a
    worker that takes over that partition recovers exactly its frames. The changelog, which
    the worker created (no ``topics apply`` here), is compacted, not deleted by age."""
    changelog = WorkerConfig(
        role="cloud", bootstrap_servers=topics.bootstrap, app_prefix=topics.prefix
    ).join_table_changelog
    admin = AdminClient({"bootstrap.servers": topics.bootstrap})
    resource = ConfigResource("topic", changelog)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["cleanup.policy"].value == "compact"  # created by the worker itself
    entries = read_topic(topics.bootstrap, changelog, until=lambda _: False, timeout_s=3)
    frames = {m.key(): m.partition() for m in _sent(topics, topics.names.detections, 30)}
    assert entries
    assert {(m.key().rsplit(b"\x1f", 1)[-1], m.partition()) for m in entries} <= set(frames.items())
