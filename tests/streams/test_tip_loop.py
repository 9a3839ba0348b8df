"""Threat image projection through the real loop (#20): an edge with TIP at rate 1.0 on two
lanes, the cloud join and two simulated guards of different miss rates, on the real broker.
Every frame of those lanes carries a projection; the guards' answers become TIP results and
never an outcome, alert or annotation task, while a third lane without TIP keeps producing
outcomes as before."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas import Alert, AnnotationTask, Codec, Detection, Outcome, TipResult
from streams.guards import run_guards
from streams.logic.guard_policy import GuardPolicy
from tests.kafka_kit import StreamTopics, TopicReader, decoded, read_topic
from tests.streams.conftest import Workers
from tests.streams.helpers import png, scan_frame

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TIP_LANES = ("1", "2")
FRAMES_PER_LANE = 4
CAREFUL = GuardPolicy(guard_id="careful", median_delay_s=0.5)
TIRED = GuardPolicy(guard_id="tired", miss_rate=1.0, median_delay_s=0.5)


@pytest.fixture
def guards(stream_topics: StreamTopics) -> Iterator[None]:
    """The two simulated guards answering in a thread, ready before the test publishes."""
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=run_guards,
        kwargs={
            "bootstrap_servers": stream_topics.bootstrap,
            "topics": stream_topics.names,
            "policies": [CAREFUL, TIRED],
            "group_id": f"{stream_topics.prefix}guards",
            "should_stop": stop.is_set,
            "on_ready": lambda _partitions: ready.set(),
        },
        daemon=True,
    )
    thread.start()
    try:
        assert ready.wait(60), "the simulated guards got no partitions"
        yield
    finally:
        stop.set()
        thread.join(30)


def test_tip_frames_give_tip_results_and_no_outcome_alert_or_task(
    stream_topics: StreamTopics, workers: Workers, tiny_artifact: Path, tmp_path: Path, guards: None
) -> None:
    codec, names = Codec(), stream_topics.names
    store = str(tmp_path / "fs")
    rates = [arg for lane in TIP_LANES for arg in ("--tip-rate", f"cp/{lane}=1.0")]
    workers.start("edge", "--model", str(tiny_artifact), "--frame-store", store, *rates)
    workers.start("cloud", "--frame-store", store, "--unreviewed-after", "60")
    out = stream_topics.producer()
    frames = [
        scan_frame(index, png(128, 128, seed=index), lane=lane)
        for lane in (*TIP_LANES, "3")
        for index in range(FRAMES_PER_LANE)
    ]
    for frame in frames:
        key = f"{frame.checkpoint}/{frame.lane}".encode()
        out.produce(names.frames, key=key, value=codec.encode(frame))
    out.flush(30)
    tipped = {f.frame_id for f in frames if f.lane in TIP_LANES}

    detections = decoded(
        read_topic(
            stream_topics.bootstrap,
            names.detections,
            until=lambda got: len(got) >= len(frames),
            timeout_s=180,
            check=workers.check_alive,
        ),
        Detection,
    )
    assert len(detections) == len(frames), workers.logs()
    for detection in detections:
        assert (detection.tip is not None) == (detection.frame_id in tipped)
        if detection.tip is not None:
            assert detection.alarmed

    results = decoded(
        read_topic(
            stream_topics.bootstrap,
            names.tip_results,
            until=lambda got: len(got) >= len(tipped),
            timeout_s=120,
            check=workers.check_alive,
        ),
        TipResult,
    )
    assert {r.frame_id for r in results} == tipped, workers.logs()
    by_guard: dict[str, list[TipResult]] = {}
    for result in results:
        assert result.result in ("hit", "miss")
        assert result.response_ms is not None
        assert result.guard_id is not None
        by_guard.setdefault(result.guard_id, []).append(result)
    # The careful guard finds every projection; the one who overlooks every medium finds
    # one only where the detector's own alarm on it stood.
    assert by_guard["careful"]
    assert all(r.result == "hit" for r in by_guard["careful"])
    assert all(r.detector_alarmed for r in by_guard.get("tired", []) if r.result == "hit")

    # The lane without TIP still gets its outcomes; the TIP frames none, nor alerts or tasks.
    real = {f.frame_id for f in frames if f.lane == "3"}
    outcomes = decoded(
        read_topic(
            stream_topics.bootstrap,
            names.outcomes,
            until=lambda got: {o.frame_id for o in decoded(got, Outcome)} >= real,
            timeout_s=120,
            check=workers.check_alive,
        ),
        Outcome,
    )
    assert {o.frame_id for o in outcomes} == real
    with (
        TopicReader(stream_topics.bootstrap, names.alerts) as alerts,
        TopicReader(stream_topics.bootstrap, names.annotation_tasks) as tasks,
    ):
        got_tasks = tasks.events(AnnotationTask, at_least=1, timeout_s=30, settle_s=3)
        got_alerts = alerts.events(Alert, at_least=0, timeout_s=1, settle_s=3)
    # The real lane's alarms are false (its frames hold no media): they queue tasks.
    assert {t.frame_id for t in got_tasks} & real
    assert not {a.frame_id for a in got_alerts} & tipped
    assert not {t.frame_id for t in got_tasks} & tipped
