"""Producer tags on the real broker: with a keyring, the cloud joins only detections tagged by
their checkpoint's edge and verdicts tagged by its guards; a forged verdict that arrives
first is dead-lettered and the guard's own verdict decides. The edge tags what it sends."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import httpx
import pytest

from infra.processes import free_port
from schemas import Codec, DeadLetter, Detection, GuardVerdict, Outcome
from schemas.authenticity import EventKeyring, add_keys
from streams.config import JOIN_PARTITIONS, WorkerConfig
from streams.frame_store import FrameStore
from streams.join import on_event
from streams.logic.outcomes import join_key
from tests.kafka_kit import StreamTopics, create_topics, decoded, produce, read_topic
from tests.streams.conftest import Workers
from tests.streams.helpers import detection, obj, png, scan_frame, verdict

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CODEC = Codec()


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.json"
    add_keys(path, ["scanner:cp", "edge:cp", "guard:cp", "guard:other", "cloud:*"])
    return path


def test_the_cloud_joins_only_tagged_events_of_their_own_producers(
    stream_topics: StreamTopics, workers: Workers, keyring_file: Path, tmp_path: Path
) -> None:
    keyring = EventKeyring.load(keyring_file)
    rogue_file = tmp_path / "rogue.json"
    add_keys(rogue_file, ["guard:cp"])
    rogue = EventKeyring.load(rogue_file)
    env = {"LEAKGUARD_SECURITY__EVENT_KEYRING": str(keyring_file)}
    workers.start("cloud", "--frame-store", str(tmp_path / "fs"), env=env)
    names = stream_topics.names
    out = stream_topics.producer()

    def send(
        topic: str,
        event: Detection | GuardVerdict,
        tagged_by: EventKeyring | None,
        principal: str,
    ) -> None:
        value = CODEC.encode(event)
        headers = None if tagged_by is None else tagged_by.headers(principal, value)
        out.produce(topic, key=event.frame_id.encode(), value=value, headers=headers)

    seen = detection(obj("o0", (0, 0, 10, 10)), frame_id="cp/1/real")
    FrameStore(str(tmp_path / "fs")).stage(
        png(16, 16), checkpoint=seen.checkpoint, lane=seen.lane, frame_id=seen.frame_id
    )
    genuine = verdict(seen, decision="confirmed")
    cleared = verdict(seen, decision="cleared", after_s=1.0)
    send(names.detections, seen, keyring, "edge:cp")
    send(names.verdicts, cleared, None, "")  # no tag
    send(names.verdicts, cleared, rogue, "guard:cp")  # the right name, another key
    send(names.verdicts, cleared, keyring, "guard:other")  # another checkpoint's guard
    send(names.verdicts, cleared, keyring, "edge:cp")  # an edge speaking as a guard
    send(names.verdicts, genuine, keyring, "guard:cp")
    forged = dataclasses.replace(
        detection(obj("o0", (0, 0, 10, 10)), frame_id="cp/1/forged"), checkpoint="cp"
    )
    send(names.detections, forged, None, "")
    send(names.verdicts, verdict(forged), keyring, "guard:cp")
    assert out.flush(10) == 0

    outcomes = read_topic(
        stream_topics.bootstrap,
        names.outcomes,
        until=lambda got: len(got) >= 1,
        timeout_s=120,
        check=workers.check_alive,
    )
    joined = decoded(outcomes, Outcome)
    assert [(o.frame_id, o.kind) for o in joined] == [("cp/1/real", "tp")], workers.logs()
    assert keyring.check(joined[0], outcomes[0].value(), outcomes[0].headers()) == "cloud:*"
    letters = read_topic(
        stream_topics.bootstrap,
        names.dead_letters,
        until=lambda got: len(got) >= 5,
        timeout_s=60,
        check=workers.check_alive,
    )
    reasons = sorted(d.reason for d in decoded(letters, DeadLetter))
    assert len(reasons) == 5, reasons
    for fragment in ("carries no producer tag", "does not match", "another checkpoint's"):
        assert any(fragment in r for r in reasons), (fragment, reasons)
    assert any("may not send it" in r for r in reasons), reasons
    assert sum("Detection" in r for r in reasons) == 1


def test_the_edge_tags_its_detections_and_refuses_to_start_without_its_key(
    stream_topics: StreamTopics,
    workers: Workers,
    keyring_file: Path,
    tiny_artifact: Path,
    tmp_path: Path,
) -> None:
    env = {"LEAKGUARD_SECURITY__EVENT_KEYRING": str(keyring_file)}
    args = ("--model", str(tiny_artifact), "--frame-store", str(tmp_path / "fs"))
    refused = workers.start("edge", *args, "--checkpoint", "lab", env=env)
    assert refused.wait(120) != 0
    assert "no key for edge:lab" in workers.logs()
    workers.processes.remove(refused)
    workers.start("edge", *args, "--checkpoint", "cp", env=env)
    keyring = EventKeyring.load(keyring_file)
    out = stream_topics.producer()
    for index, principal in ((0, "scanner:cp"), (1, None), (2, "scanner:cp")):
        value = CODEC.encode(scan_frame(index, png(64, 64, seed=index), lane="1"))
        headers = None if principal is None else keyring.headers(principal, value)
        out.produce(stream_topics.names.frames, key=b"cp/1", value=value, headers=headers)
    assert out.flush(10) == 0
    messages = read_topic(
        stream_topics.bootstrap,
        stream_topics.names.detections,
        until=lambda got: len(got) >= 2,
        timeout_s=180,
        check=workers.check_alive,
    )
    for message in messages:
        event = CODEC.decode(message.value(), Detection)
        assert keyring.check(event, message.value(), message.headers()) == "edge:cp"
    assert sorted(d.frame_id for d in decoded(messages, Detection)) == [
        "cp/1/000000000",
        "cp/1/000000002",
    ]
    (letter,) = read_topic(
        stream_topics.bootstrap,
        stream_topics.names.dead_letters,
        until=lambda got: len(got) >= 1,
        timeout_s=30,
    )
    assert (
        "ScanFrame of 'cp' carries no producer tag"
        in CODEC.decode(letter.value(), DeadLetter).reason
    )


def test_a_join_entry_written_to_the_changelog_by_someone_else_is_dropped(
    stream_topics: StreamTopics, workers: Workers, keyring_file: Path, tmp_path: Path
) -> None:
    """The join table is recovered from its changelog topic: an entry holding a forged
    'cleared' verdict, written there before the worker starts, would decide the frame. With
    a keyring the worker seals its entries, so the forged one is dropped and the guard's own
    verdict decides."""
    keyring = EventKeyring.load(keyring_file)
    seen = detection(obj("o0", (0, 0, 10, 10)), frame_id="cp/1/sealed")
    FrameStore(str(tmp_path / "fs")).stage(
        png(16, 16), checkpoint=seen.checkpoint, lane=seen.lane, frame_id=seen.frame_id
    )
    cleared = verdict(seen, decision="cleared")
    forged = on_event(None, cleared, CODEC.encode(cleared), now=time.time(), codec=CODEC).state
    assert forged is not None
    changelog = WorkerConfig(
        role="cloud", bootstrap_servers=stream_topics.bootstrap, app_prefix=stream_topics.prefix
    ).join_table_changelog
    create_topics(stream_topics.bootstrap, {changelog: JOIN_PARTITIONS})
    key = join_key(checkpoint=seen.checkpoint, lane=seen.lane, frame_id=seen.frame_id).encode()
    produce(stream_topics.producer(), [(changelog, key, forged.to_bytes())])
    port = free_port()
    env = {"LEAKGUARD_SECURITY__EVENT_KEYRING": str(keyring_file)}
    workers.start(
        "cloud", "--frame-store", str(tmp_path / "fs"), "--metrics-port", str(port), env=env
    )
    out = stream_topics.producer()
    names = stream_topics.names
    for topic, event, principal in (
        (names.detections, seen, "edge:cp"),
        (names.verdicts, verdict(seen, decision="confirmed"), "guard:cp"),
    ):
        value = CODEC.encode(event)
        out.produce(
            topic,
            key=seen.frame_id.encode(),
            value=value,
            headers=keyring.headers(principal, value),
        )
    assert out.flush(10) == 0
    outcomes = read_topic(
        stream_topics.bootstrap,
        names.outcomes,
        until=lambda got: len(got) >= 1,
        timeout_s=120,
        check=workers.check_alive,
    )
    assert [o.kind for o in decoded(outcomes, Outcome)] == ["tp"], workers.logs()
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert "leakguard_join_entries_dropped_total 1.0" in metrics
