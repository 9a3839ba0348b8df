"""The edge worker for real: a ``leakguard worker --role edge`` subprocess on the real
broker with a tiny model; frames in, exactly one detection per frame out."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from schemas import Codec, Detection
from schemas.images import png_payload
from tests.kafka_kit import StreamTopics, decoded, read_topic
from tests.streams.conftest import Workers
from tests.streams.helpers import png, scan_frame

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _start_edge(
    workers: Workers, artifact: Path, store: Path, *args: str, env: dict[str, str] | None = None
) -> None:
    workers.start("edge", "--model", str(artifact), "--frame-store", str(store), *args, env=env)


def test_200_frames_give_exactly_200_detections(
    stream_topics: StreamTopics, workers: Workers, tiny_artifact: Path, tmp_path: Path
) -> None:
    codec = Codec()
    with socket.socket() as probe:  # a free port for the worker's /metrics
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _start_edge(workers, tiny_artifact, tmp_path / "fs", "--metrics-port", str(port))
    images = [png(128, 128, seed=i) for i in range(4)]
    out = stream_topics.producer()
    sent = []
    for index in range(200):
        frame = scan_frame(index, images[index % 4], lane=str(index % 3))
        sent.append(frame.frame_id)
        out.produce(
            stream_topics.names.frames,
            key=f"{frame.checkpoint}/{frame.lane}".encode(),
            value=codec.encode(frame),
        )
    out.flush(30)
    messages = read_topic(
        stream_topics.bootstrap,
        stream_topics.names.detections,
        until=lambda got: len(got) >= 200,
        timeout_s=120,
        check=workers.check_alive,
    )
    detections = decoded(messages, Detection)
    assert len(detections) == 200, workers.logs()
    assert sorted(d.frame_id for d in detections) == sorted(sent)
    assert all(m.key() == d.frame_id.encode() for m, d in zip(messages, detections, strict=True))
    assert all(d.model_version == "tiny-test" and d.alarmed for d in detections)
    # one lane's detections keep the frames' order
    for lane in "012":
        lane_ids = [d.frame_id for d in detections if d.lane == lane]
        by_partition: dict[int, list[str]] = {}
        for m, d in zip(messages, detections, strict=True):
            if d.lane == lane:
                by_partition.setdefault(m.partition(), []).append(d.frame_id)
        assert all(ids == sorted(ids) for ids in by_partition.values())
        assert len(lane_ids) > 60
    assert len(list((tmp_path / "fs" / "staging").rglob("*.png"))) == 200
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert "leakguard_frames_in_total 200.0" in metrics
    assert "leakguard_detections_out_total 200.0" in metrics
    assert "leakguard_inference_latency_seconds_count" in metrics
    assert "leakguard_queue_depth 0.0" in metrics


#: Faust reads its settings from these environment variables too: a short max poll interval
#: makes the test show in seconds what took 1,000 s with Faust's default.
SHORT_MAX_POLL_INTERVAL = {"BROKER_MAX_POLL_INTERVAL": "15"}
#: Half again as many frames as the broken worker took before it stopped (~2,000), and more
#: than the edge detects within the 15 s interval on any machine this runs on.
BACKLOG = 3000


def test_a_backlog_longer_than_the_max_poll_interval_is_drained(
    stream_topics: StreamTopics, workers: Workers, tiny_artifact: Path, tmp_path: Path
) -> None:
    """A backlog of small claim-check frames: one unbounded poll returned all of them, the
    agent needed longer than the max poll interval to take them, aiokafka left the group
    and the worker never polled (so never rejoined) again; it stopped at ~2,000 frames."""
    codec = Codec()
    out = stream_topics.producer()
    payloads = []
    scanner_folder = tmp_path / "scanner"
    scanner_folder.mkdir()
    for seed in range(4):
        path = scanner_folder / f"scan-{seed}.png"
        path.write_bytes(png(64, 64, seed=seed))
        payloads.append(png_payload(path.read_bytes(), uri=str(path)))
    sent = set()
    for index in range(BACKLOG):
        lane = str(index % 4)
        frame = scan_frame(index, payloads[index % 4], lane=lane)
        sent.add(frame.frame_id)
        out.produce(
            stream_topics.names.frames, key=f"cp/{lane}".encode(), value=codec.encode(frame)
        )
        out.poll(0)
    out.flush(60)
    _start_edge(
        workers,
        tiny_artifact,
        tmp_path / "fs",
        "--claim-check-root",
        str(scanner_folder),
        env=SHORT_MAX_POLL_INTERVAL,
    )
    messages = read_topic(
        stream_topics.bootstrap,
        stream_topics.names.detections,
        until=lambda got: len(got) >= BACKLOG,
        timeout_s=240,
        check=workers.check_alive,
    )
    detected = {d.frame_id for d in decoded(messages, Detection)}
    assert detected == sent, f"{len(detected)} of {BACKLOG} frames detected\n{workers.logs()}"
