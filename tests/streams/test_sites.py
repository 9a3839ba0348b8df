"""Sites scale apart (issue #22), for real: two sites on one broker, each with its own edge
worker and console feed; a site's frames reach only its edge and its console, whose consumer
never reads the other site's detections, and the one cloud join resolves the frames of both."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from infra.sites import SITE_TOPIC_FIELDS, site_topic_name, site_topics
from schemas import Codec, Detection, Outcome
from schemas.images import ImageReader
from schemas.topics import Topics
from streams.console.feed import FrameFeed
from streams.console.publisher import VerdictPublisher
from streams.console.review_queue import ReviewQueue
from streams.frame_store import FrameStore
from tests.kafka_kit import (
    StreamTopics,
    committed,
    decoded,
    ends_of,
    make_topics,
    read_topic,
    wait_committed,
)
from tests.streams.conftest import Workers
from tests.streams.helpers import png, scan_frame, verdict

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITES = ("north", "south")
#: Frames each site's scanner sends.
FRAMES_PER_SITE = 6
#: Edges load a model and join their group; on a loaded 2-core machine that takes a while.
PIPELINE_TIMEOUT_S = 180.0
CODEC = Codec()


def _checkpoint(site: str) -> str:
    return f"gate-{site}"


class _Console:
    """A site console's Kafka side: the console's own feed and review queue on the site's
    topics, with a count of every message its consumer handed over."""

    def __init__(self, topics: StreamTopics, site: str, store: FrameStore, state: Path) -> None:
        self.topics = site_topics(topics.names, site)
        self.queue = ReviewQueue(state / f"{site}.sqlite")
        self.feed = FrameFeed(
            bootstrap_servers=topics.bootstrap,
            topics=self.topics,
            queue=self.queue,
            checkpoint=_checkpoint(site),
            images=ImageReader(roots=(store.url,)),
        )
        self.feed.assign()
        self.read = 0

    def step(self) -> None:
        self.read += self.feed.step()


def _send_frames(topics: StreamTopics, site: str) -> list[str]:
    """The site scanner's frames on the site's own topic; their frame ids."""
    frames = site_topics(topics.names, site).frames
    out = topics.producer()
    sent = []
    for index in range(FRAMES_PER_SITE):
        frame = scan_frame(index, png(96, 96, seed=index), lane=str(index % 2 + 1))
        frame = dataclasses.replace(
            frame,
            checkpoint=_checkpoint(site),
            frame_id=f"{_checkpoint(site)}/{frame.lane}/{index}",
        )
        sent.append(frame.frame_id)
        out.produce(
            frames, key=f"{frame.checkpoint}/{frame.lane}".encode(), value=CODEC.encode(frame)
        )
    out.flush(30)
    return sent


def test_each_sites_frames_reach_only_its_edge_and_console_and_the_cloud_joins_both(
    stream_topics: StreamTopics, workers: Workers, tiny_artifact: Path, tmp_path: Path
) -> None:
    make_topics(
        stream_topics.bootstrap,
        stream_topics.prefix,
        only=[
            site_topic_name(getattr(Topics(), field), site)
            for site in SITES
            for field in SITE_TOPIC_FIELDS
        ],
        sites=SITES,
    )
    store = FrameStore(str(tmp_path / "frames"))
    edge = ("--model", str(tiny_artifact), "--frame-store", store.url)
    workers.start("edge", *edge, "--site", "north")
    workers.start("edge", *edge, env={"LEAKGUARD_SITE": "south"})
    workers.start(
        "cloud", "--frame-store", store.url, env={"LEAKGUARD_SITES": '["north", "south"]'}
    )
    consoles = {site: _Console(stream_topics, site, store, tmp_path / "consoles") for site in SITES}

    sent = {site: _send_frames(stream_topics, site) for site in SITES}

    deadline = time.monotonic() + PIPELINE_TIMEOUT_S
    while time.monotonic() < deadline and any(
        len(console.queue.pending(["1", "2"])) < FRAMES_PER_SITE for console in consoles.values()
    ):
        workers.check_alive()
        for console in consoles.values():
            console.step()
    for site, console in consoles.items():
        queued = sorted(item.frame_id for item in console.queue.pending(["1", "2"]))
        assert queued == sorted(sent[site]), workers.logs()
        # what the consumer read, not what the feed kept: the other site's detections never
        # reached this console's consumer at all
        assert console.read == FRAMES_PER_SITE
        assert {topic for topic, _ in console.queue.offsets()} == {console.topics.detections}

    for site in SITES:
        names = site_topics(stream_topics.names, site)
        group = f"{stream_topics.prefix}leakguard-edge-{site}"
        other = site_topics(stream_topics.names, "south" if site == "north" else "north")
        frames = read_topic(
            stream_topics.bootstrap,
            names.frames,
            until=lambda got: len(got) >= FRAMES_PER_SITE,
            timeout_s=30,
        )
        wait_committed(
            stream_topics.bootstrap,
            group,
            ends_of(frames),
            timeout_s=PIPELINE_TIMEOUT_S,
            check=workers.check_alive,
        )
        untouched = committed(stream_topics.bootstrap, group, [other.frames])
        assert all(offset < 0 for offset in untouched.values())
        detections = read_topic(
            stream_topics.bootstrap,
            names.detections,
            until=lambda got: len(got) >= FRAMES_PER_SITE,
            timeout_s=30,
        )
        detected = decoded(detections, Detection)
        assert sorted(d.frame_id for d in detected) == sorted(sent[site])
        publisher = VerdictPublisher(
            bootstrap_servers=stream_topics.bootstrap, topic=names.verdicts
        )
        for detection in detected:
            publisher.publish(verdict(detection))
        publisher.close()

    every_frame = {frame_id for frames in sent.values() for frame_id in frames}
    outcomes = read_topic(
        stream_topics.bootstrap,
        stream_topics.names.outcomes,
        until=lambda got: {_frame(m.value()) for m in got} >= every_frame,
        timeout_s=PIPELINE_TIMEOUT_S,
        check=workers.check_alive,
    )
    assert {_frame(m.value()) for m in outcomes} == every_frame, workers.logs()


def _frame(value: bytes | None) -> str:
    return CODEC.decode(value or b"", Outcome).frame_id
