"""The drift scenario at a checkpoint: ``leakguard scanner simulate --drift`` publishes frames
whose ground truth carries the phone-shaped decorations, on the real broker."""

from __future__ import annotations

import subprocess

import pytest

from schemas.events import ScanFrame
from tests.kafka_kit import StreamTopics, decoded, read_topic
from tests.streams.conftest import LEAKGUARD

N_FRAMES = 8


@pytest.mark.integration
@pytest.mark.slow
def test_scanner_simulate_with_drift_publishes_labelled_decorations(
    stream_topics: StreamTopics,
) -> None:
    result = subprocess.run(
        [LEAKGUARD, "scanner", "simulate", "--checkpoint", "hq", "--frames", str(N_FRAMES),
         "--size", "160", "--rate", "50", "--drift", "phone-decoration",
         "--topic-prefix", stream_topics.prefix,
         "--bootstrap-servers", stream_topics.bootstrap],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    messages = read_topic(
        stream_topics.bootstrap,
        stream_topics.names.frames,
        until=lambda m: len(m) >= N_FRAMES,
        timeout_s=60,
    )
    frames = decoded(messages, ScanFrame)
    decorations = [
        g for f in frames for g in (f.ground_truth or ()) if g.subtype == "phone_decoration"
    ]
    assert decorations
    assert {g.class_name for g in decorations} == {"others"}


def test_scanner_simulate_refuses_an_unknown_drift() -> None:
    result = subprocess.run(
        [LEAKGUARD, "scanner", "simulate", "--checkpoint", "hq", "--drift", "vapes"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "phone-decoration" in result.stderr
