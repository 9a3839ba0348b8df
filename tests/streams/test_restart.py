"""``kill -9`` of workers in the middle of 1,000 frames, then a restart.

Edge and cloud together, with every verdict already waiting: every frame gets a detection
(at least once; a replayed frame repeats its frame id and is detected alike), and the
outcomes, deduplicated by their id, are exactly one per alarmed object with the kind the
verdict asks for: the join table came back from its changelog and replays produced no
second outcome for any object. A cloud worker killed with verdicts joined and
written to the table's changelog in multi-record batches recovers every one of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.processes import free_port
from schemas import Codec, Detection, Outcome
from schemas.events import GuardVerdict
from tests.kafka_kit import StreamTopics, decoded, ends_of, read_topic, reported_ends
from tests.streams.conftest import Workers
from tests.streams.helpers import detection, obj, png, scan_frame

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FRAMES = 1000
#: Every fifth frame's guard rejects object ``o1``: FP outcomes, kept images, tasks.
REJECT_EVERY = 5


def _frame_id(index: int) -> str:
    return f"cp/{index % 4}/{index:09d}"


def _send_frames(topics: StreamTopics, codec: Codec) -> None:
    images = [png(128, 128, seed=i) for i in range(4)]
    out = topics.producer()
    for index in range(FRAMES):
        frame = scan_frame(index, images[index % 4], lane=str(index % 4))
        out.produce(topics.names.frames, key=f"cp/{frame.lane}".encode(), value=codec.encode(frame))
    assert out.flush(60) == 0


def _send_verdicts(topics: StreamTopics, codec: Codec) -> None:
    """A verdict for every frame before its detection exists: the join takes either order."""
    out = topics.producer()
    for index in range(FRAMES):
        rejected = ("o1",) if index % REJECT_EVERY == 0 else ()
        verdict = GuardVerdict(
            checkpoint="cp",
            lane=str(index % 4),
            frame_id=_frame_id(index),
            model_version="tiny-test",
            detection_event_id=uuid.uuid4(),
            guard_id="g1",
            decision="confirmed",
            rejected_object_ids=rejected,
        )
        out.produce(
            topics.names.verdicts, key=verdict.frame_id.encode(), value=codec.encode(verdict)
        )
    assert out.flush(60) == 0


def _kill(workers: Workers, process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    workers.processes.remove(process)


def _joined(port: int) -> float:
    """Events the cloud worker's join consumed (its /metrics), 0 while it does not answer."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 0.0
    lines = [
        line for line in text.splitlines() if line.startswith("leakguard_join_events_in_total")
    ]
    return float(lines[0].split()[1]) if lines else 0.0


def _detected_frames(messages: list[Any], codec: Codec) -> set[str]:
    return {d.frame_id for d in decoded(messages, Detection, codec)}


def test_kill_9_of_edge_and_cloud_mid_stream_then_restart_duplicates_no_outcome(
    stream_topics: StreamTopics, workers: Workers, tiny_artifact: Path, tmp_path: Path
) -> None:
    """Both workers killed mid-stream and restarted: every frame is detected (none lost,
    replays detected alike) and every object gets exactly one outcome id."""
    codec = Codec()
    names = stream_topics.names
    edge_args = ("--model", str(tiny_artifact), "--frame-store", str(tmp_path / "fs"))
    cloud_args = ("--frame-store", str(tmp_path / "fs"), "--unreviewed-after", "3600")
    edge, cloud = workers.start("edge", *edge_args), workers.start("cloud", *cloud_args)
    _send_verdicts(stream_topics, codec)
    _send_frames(stream_topics, codec)
    before_kill = read_topic(
        stream_topics.bootstrap,
        names.outcomes,
        until=lambda got: len(got) >= 600,  # three objects a frame: ~200 frames resolved
        timeout_s=240,
        check=workers.check_alive,
    )
    _kill(workers, edge)
    _kill(workers, cloud)
    detected_at_kill = _detected_frames(
        read_topic(stream_topics.bootstrap, names.detections, until=lambda _: False, timeout_s=3),
        codec,
    )
    assert len(before_kill) >= 600
    assert len(detected_at_kill) < FRAMES, "the kill came after the last frame"
    workers.start("edge", *edge_args)
    workers.start("cloud", *cloud_args)

    detections = read_topic(
        stream_topics.bootstrap,
        names.detections,
        until=lambda got: len(got) >= FRAMES and len(_detected_frames(got, codec)) >= FRAMES,
        timeout_s=300,
        check=workers.check_alive,
    )
    alarmed: dict[str, set[frozenset[str]]] = defaultdict(set)
    for message in detections:
        detection = codec.decode(message.value(), Detection)
        alarmed[detection.frame_id].add(
            frozenset(o.object_id for o in detection.objects if o.alarmed)
        )
    assert set(alarmed) == {_frame_id(i) for i in range(FRAMES)}
    assert all(len(variants) == 1 for variants in alarmed.values()), "replays detected alike"
    rejected = {_frame_id(i) for i in range(0, FRAMES, REJECT_EVERY)}
    expected = {
        (frame_id, object_id): "fp" if object_id == "o1" and frame_id in rejected else "tp"
        for frame_id, (objects,) in alarmed.items()
        for object_id in objects
    }

    def distinct(messages: list[Any]) -> dict[str, Outcome]:
        return {str(o.outcome_id): o for o in decoded(messages, Outcome)}

    outcomes = read_topic(
        stream_topics.bootstrap,
        names.outcomes,
        until=lambda got: len(distinct(got)) >= len(expected),
        timeout_s=300,
        check=workers.check_alive,
    )
    # Late extras would come within the join's next steps: read on a little longer.
    outcomes += read_topic(
        stream_topics.bootstrap, names.outcomes, until=lambda _: False, timeout_s=5
    )[len(outcomes) :]
    by_id = distinct(outcomes)
    got = {(o.frame_id, o.object_id): o.kind for o in by_id.values()}
    assert len(by_id) == len(expected), f"{len(by_id) - len(expected)} extra outcome ids"
    # Repeated messages of one id (a crash between producing and the changelog write) are
    # allowed at least once; the analytics sink deduplicates them on outcome_id.
    assert got == expected, f"{len(outcomes) - len(by_id)} repeated outcome messages"


def _partitions_reported_short(bootstrap: str, topic: str, records: int) -> int:
    """How many partitions of ``topic`` hold records past the end the broker reports, once
    ``records`` records can be read from it."""
    ends = ends_of(
        read_topic(bootstrap, topic, until=lambda got: len(got) >= records, timeout_s=60)
    )
    reported = reported_ends(bootstrap, topic, (partition for _, partition in ends))
    return sum(reported[partition] < end for (_, partition), end in ends.items())


def test_cloud_join_table_survives_kill_9_through_its_changelog(
    stream_topics: StreamTopics, workers: Workers, tmp_path: Path
) -> None:
    """Verdicts joined before the kill, detections after: the restarted worker still has
    the verdicts (recovered from the changelog, whose multi-record batches the broker
    reports short) and resolves every frame."""
    codec = Codec()
    names = stream_topics.names
    args = ("--frame-store", str(tmp_path / "fs"), "--unreviewed-after", "3600")
    port = free_port()
    cloud = workers.start("cloud", *args, "--metrics-port", str(port))
    out = stream_topics.producer()
    changelog = f"{stream_topics.prefix}leakguard-cloud-frames-changelog"
    frames = 0
    # How the worker's producer batches depends on timing: send rounds of verdicts until
    # some changelog partition ends in a batch the broker reports short (at most three).
    for _ in range(3):
        for index in range(frames, frames + 400):
            verdict = GuardVerdict(
                checkpoint="cp", lane="1", frame_id=f"f{index}", model_version="m1",
                detection_event_id=uuid.uuid4(), guard_id="g1", decision="confirmed",
            )  # fmt: skip
            out.produce(names.verdicts, key=verdict.frame_id.encode(), value=codec.encode(verdict))
        assert out.flush(30) == 0
        frames += 400
        deadline = time.monotonic() + 120
        while _joined(port) < frames and time.monotonic() < deadline:
            workers.check_alive()
            time.sleep(0.5)
        assert _joined(port) == frames
        # One changelog record a joined verdict: read until the table's writes are all out.
        if _partitions_reported_short(stream_topics.bootstrap, changelog, frames) > 0:
            break
    assert _partitions_reported_short(stream_topics.bootstrap, changelog, frames) > 0, (
        "no changelog partition ends in a multi-record batch: the test proves nothing"
    )
    _kill(workers, cloud)
    workers.start("cloud", *args)
    for index in range(frames):
        seen = detection(obj("o0", (0, 0, 10, 10)), frame_id=f"f{index}")
        out.produce(names.detections, key=seen.frame_id.encode(), value=codec.encode(seen))
    assert out.flush(30) == 0
    outcomes = read_topic(
        stream_topics.bootstrap, names.outcomes, until=lambda got: len(got) >= frames,
        timeout_s=180, check=workers.check_alive,
    )  # fmt: skip
    resolved = decoded(outcomes, Outcome)
    assert sorted(o.frame_id for o in resolved) == sorted(f"f{i}" for i in range(frames)), (
        f"{len(resolved)} of {frames} frames resolved after the restart:\n{workers.logs()}"
    )
    assert {o.kind for o in resolved} == {"tp"}
