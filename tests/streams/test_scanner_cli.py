"""``leakguard scanner simulate|watch|guards`` against the real broker: frames published in
lane order with their ground truth, the ``stack up`` broker found without configuration, a
clear error when there is no broker, back-pressure that waits instead of dropping, clear
reasons for unreadable scanner files, and simulated guards answering detections."""

from __future__ import annotations

import logging
import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from infra.broker import EmbeddedBroker
from schemas import Codec, GuardVerdict, ScanFrame
from schemas.events import LabeledBox
from streams.sources import FramePublisher
from tests.kafka_kit import StreamTopics, ends_of, produce, read_topic, wait_committed
from tests.streams.conftest import LEAKGUARD
from tests.streams.helpers import detection, labeled, obj, png, scan_frame

pytestmark = pytest.mark.integration

#: The consumer group of ``leakguard scanner guards`` (``run_guards``' default).
GUARDS_GROUP = "leakguard-sim-guards"


def _run(
    args: list[str], *, bootstrap: str | None, timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400"}  # rich's log lines unwrapped
    if bootstrap is not None:
        env["LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
    return subprocess.run(
        [LEAKGUARD, *args], env=env, capture_output=True, text=True, timeout=timeout_s
    )


def _frames(topics: StreamTopics, count: int) -> list[tuple[bytes, int, ScanFrame]]:
    messages = read_topic(
        topics.bootstrap, topics.names.frames, until=lambda got: len(got) >= count, timeout_s=30
    )
    codec = Codec()
    return [(m.key(), m.partition(), codec.decode(m.value(), ScanFrame)) for m in messages]


def test_simulate_publishes_every_lane_in_order_with_ground_truth(
    stream_topics: StreamTopics,
) -> None:
    result = _run(
        ["scanner", "simulate", "--checkpoint", "hq", "--lanes", "2", "--rate", "50",
         "--frames", "3", "--size", "96", "--topic-prefix", stream_topics.prefix],
        bootstrap=stream_topics.bootstrap,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "published 6 frames" in result.stdout
    frames = _frames(stream_topics, 6)
    assert len(frames) == 6
    for lane in ("1", "2"):
        ids = [f.frame_id for key, _, f in frames if key == f"hq/{lane}".encode()]
        assert ids == [f"hq/{lane}/{i:09d}" for i in range(3)]
    assert all(f.ground_truth is not None and f.image.inline for _, _, f in frames)


def test_simulate_dual_view_frames_carry_the_side_view(stream_topics: StreamTopics) -> None:
    """``--views top,side`` (#20): each frame's primary view is the top view, its side view
    rides in ``views`` at the same size; a view the simulator has not is refused by name."""
    result = _run(
        ["scanner", "simulate", "--checkpoint", "hq", "--frames", "1", "--size", "96",
         "--rate", "50", "--views", "top,side", "--topic-prefix", stream_topics.prefix],
        bootstrap=stream_topics.bootstrap,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ((_, _, frame),) = _frames(stream_topics, 1)
    assert frame.view_id == "top"
    assert [(v.view_id, v.image.width, v.image.height) for v in frame.views] == [("side", 96, 96)]
    assert frame.views[0].image.inline
    assert frame.views[0].image.inline != frame.image.inline
    refused = _run(
        ["scanner", "simulate", "--checkpoint", "hq", "--views", "top,front"], bootstrap=None
    )
    assert refused.returncode == 2
    assert "front" in refused.stderr


def test_scanner_finds_the_stack_up_broker(
    stream_topics: StreamTopics, kafka_broker: EmbeddedBroker
) -> None:
    """No address configured: the command reads ``stack.json`` as ``stack up`` writes it."""
    from infra.settings import load_settings

    binary = Path(f"/proc/{kafka_broker.pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    state = load_settings().stack_state_path
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(
        f'{{"pid": {kafka_broker.pid}, "bootstrap_servers": "{stream_topics.bootstrap}", '
        f'"binary": "{binary}", "log_path": "-", "started_at": {time.time()}}}'
    )
    result = _run(
        ["scanner", "simulate", "--checkpoint", "hq", "--frames", "1", "--size", "96",
         "--rate", "50", "--topic-prefix", stream_topics.prefix],
        bootstrap=None,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [f.frame_id for _, _, f in _frames(stream_topics, 1)] == ["hq/1/000000000"]


@pytest.mark.parametrize(
    "args",
    [
        ["scanner", "guards"],
        ["scanner", "simulate", "--checkpoint", "hq"],
        ["worker", "--role", "cloud"],
    ],
)
def test_without_a_broker_the_commands_say_how_to_get_one(args: list[str]) -> None:
    result = _run(args, bootstrap=None, timeout_s=120)
    assert result.returncode == 1
    assert "leakguard stack up" in result.stderr
    assert "Traceback" not in result.stderr


def test_watch_publishes_good_files_and_explains_unreadable_ones(
    stream_topics: StreamTopics, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "0001.png").write_bytes(png(32, 32))
    (folder / "0002.png").write_bytes(b"\x89PNG truncated")
    (folder / "0003.png").mkdir()
    settled = time.time() - 10
    for path in folder.iterdir():
        os.utime(path, (settled, settled))
    result = _run(
        ["scanner", "watch", str(folder), "--checkpoint", "hq", "--lane", "4", "--once",
         "--topic-prefix", stream_topics.prefix],
        bootstrap=stream_topics.bootstrap,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "published 1 frames, rejected 2" in result.stdout
    assert "0002.png is not a PNG image" in result.stderr
    assert "cannot read scanner file" in result.stderr
    assert "0003.png: Is a directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert [f.frame_id for _, _, f in _frames(stream_topics, 1)] == ["hq/4/0001"]
    assert sorted(p.name for p in (folder / "rejected").iterdir()) == ["0002.png", "0003.png"]

    missing = _run(
        ["scanner", "watch", str(tmp_path / "nowhere"), "--checkpoint", "hq"],
        bootstrap=stream_topics.bootstrap,
    )
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


def test_publisher_waits_when_the_producer_queue_is_full(
    stream_topics: StreamTopics, caplog: pytest.LogCaptureFixture
) -> None:
    """A one-message queue: every publish after the first finds it full and must wait."""
    tight = stream_topics.producer(**{"queue.buffering.max.messages": 1, "linger.ms": 20})
    publisher = FramePublisher(topic=stream_topics.names.frames, producer=tight)
    image = png(64, 64)
    with caplog.at_level(logging.DEBUG, logger="streams.sources"):
        for index in range(40):
            publisher.publish(scan_frame(index, image, lane="1"))
    assert publisher.flush(30) == 0
    assert any("queue is full" in r.getMessage() for r in caplog.records)
    ids = [f.frame_id for _, _, f in _frames(stream_topics, 40)]
    assert ids == [f"cp/1/{i:09d}" for i in range(40)]


def _wait_for_line(process: subprocess.Popen[str], text: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    assert process.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            if text in line:
                return line
        if process.poll() is not None:
            break
    pytest.fail(
        f"no {text!r} from the guards; stderr: {process.stderr.read() if process.stderr else ''}"
    )


def test_simulated_guards_answer_each_detection_from_the_ground_truth(
    stream_topics: StreamTopics,
) -> None:
    env = {**os.environ, "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": stream_topics.bootstrap}
    guards = subprocess.Popen(
        [LEAKGUARD, "scanner", "guards", "--delay", "0.2", "--topic-prefix", stream_topics.prefix],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for_line(guards, "guards answering", timeout_s=90)
        codec = Codec()
        truth: tuple[LabeledBox, ...] = (
            labeled((0, 0, 10, 10), "phone"),
            labeled((60, 60, 80, 80)),
        )
        frame = ScanFrame(
            checkpoint="cp", lane="1", frame_id="cp/1/000000001", scanner_id="sim",
            view_id="top", image=scan_frame(1, png(16, 16), lane="1").image, ground_truth=truth,
        )  # fmt: skip
        # o0 covers the phone (confirmed), o1 covers nothing (rejected), the usb is missed.
        seen = detection(obj("o0", (0, 0, 10, 10)), obj("o1", (30, 30, 40, 40)))
        out = stream_topics.producer()
        produce(out, [(stream_topics.names.frames, b"cp/1", codec.encode(frame))])
        # The guards remember the frame before its detection comes: they have read it once
        # their group has committed past it (auto-commit, at most 5 s).
        sent = read_topic(
            stream_topics.bootstrap,
            stream_topics.names.frames,
            until=lambda got: len(got) >= 1,
            timeout_s=30,
        )
        wait_committed(stream_topics.bootstrap, GUARDS_GROUP, ends_of(sent), timeout_s=60)
        produce(out, [(stream_topics.names.detections, seen.frame_id.encode(), codec.encode(seen))])
        messages = read_topic(
            stream_topics.bootstrap, stream_topics.names.verdicts,
            until=lambda got: len(got) >= 1, timeout_s=60,
        )  # fmt: skip
    finally:
        guards.terminate()
        guards.wait(timeout=30)
    assert len(messages) == 1
    verdict = codec.decode(messages[0].value(), GuardVerdict)
    assert messages[0].key() == b"cp/1/000000001"
    assert (verdict.decision, verdict.rejected_object_ids) == ("confirmed", ("o1",))
    assert [m.class_name for m in verdict.missed_items] == ["usb"]
    assert verdict.detection_event_id == seen.event_id
