"""``kill -9`` of an edge worker in the middle of 1,000 frames, then a restart: every frame
still gets a detection (at least once; a replayed frame repeats the same frame id)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from schemas import Codec, Detection
from tests.streams.conftest import StreamTopics, Workers, consume, producer
from tests.streams.helpers import png
from tests.streams.test_edge_worker import _frame

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FRAMES = 1000


def test_kill_9_mid_stream_then_restart_loses_no_frame(
    stream_topics: StreamTopics, workers: Workers, tiny_artifact: Path, tmp_path: Path
) -> None:
    codec = Codec()
    names = stream_topics.names
    args = ("--model", str(tiny_artifact), "--frame-store", str(tmp_path / "fs"))
    first = workers.start("edge", *args)
    images = [png(128, 128, seed=i) for i in range(4)]
    out = producer(stream_topics.bootstrap)
    for index in range(FRAMES):
        frame = _frame(index, images[index % 4], lane=str(index % 4))
        out.produce(names.frames, key=f"cp/{frame.lane}".encode(), value=codec.encode(frame))
    out.flush(60)
    partial = consume(
        stream_topics.bootstrap,
        names.detections,
        until=lambda got: len(got) >= 150,
        timeout_s=120,
        workers=workers,
    )
    assert 150 <= len(partial) < FRAMES
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    workers.processes.remove(first)
    workers.start("edge", *args)

    def frame_ids(messages: list[object]) -> set[str]:
        return {codec.decode(m.value(), Detection).frame_id for m in messages}  # type: ignore[attr-defined]

    messages = consume(
        stream_topics.bootstrap,
        names.detections,
        until=lambda got: len(frame_ids(got)) >= FRAMES if len(got) >= FRAMES else False,
        timeout_s=180,
        workers=workers,
    )
    assert frame_ids(messages) == {f"cp/{i % 4}/{i:09d}" for i in range(FRAMES)}
