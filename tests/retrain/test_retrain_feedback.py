"""Edge rollbacks fed back into the registry: the pure rule on a real registry, and the
retrain consumer applying a rollback report from ``model.status`` on the real broker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from retrain.consumer import RetrainConsumer
from retrain.cycle import RetrainConfig, Retrainer
from retrain.feedback import apply_edge_rollback, is_rollback
from retrain.registry import Registry
from schemas import Codec
from schemas.authenticity import EventKeyring, add_keys
from schemas.events import DeadLetter, ModelStateName, ModelStatus, ModelUpdate, RolloutTarget
from tests.kafka_kit import StreamTopics, decoded, produce, read_topic
from tests.retrain.retrain_helpers import annotation
from tests.streams.helpers import png


def _status(
    version: str,
    *,
    state: ModelStateName = "rejected",
    error: str = "miss rate 0.40 > 0.10",
    rolled_back: bool = True,
) -> ModelStatus:
    return ModelStatus(
        checkpoint="hq",
        worker_id="edge-1",
        model_version=version,
        state=state,
        active_version="v0001",
        error=error,
        rolled_back=rolled_back,
    )


@pytest.fixture
def two_versions(registry: Registry, alarming_artifact: Path, quiet_artifact: Path) -> Registry:
    """v0001 active, v0002 its registered child."""
    registry.register(alarming_artifact, parent=None, state="active")
    registry.register(quiet_artifact, parent="v0001")
    return registry


def test_a_rolled_back_active_model_is_rolled_back_in_the_registry(two_versions: Registry) -> None:
    registry = two_versions
    registry.promote("v0002", mode="active")
    update = apply_edge_rollback(registry, _status("v0002"))
    assert update is not None
    assert (update.model_version, update.rollout_mode) == ("v0001", "active")
    active = registry.active()
    assert active is not None
    assert active.version == "v0001"
    rejected = registry.get("v0002")
    assert rejected.state == "rejected"
    assert "edge-1 at hq" in rejected.history[-1].reason
    # A second edge's report, or a replay of the topic, changes nothing.
    assert apply_edge_rollback(registry, _status("v0002")) is None
    assert registry.get("v0001").state == "active"


def test_a_rolled_back_canary_is_rejected_and_the_active_model_stays(
    two_versions: Registry,
) -> None:
    registry = two_versions
    registry.promote("v0002", mode="canary", targets=(RolloutTarget(checkpoint="hq"),))
    assert apply_edge_rollback(registry, _status("v0002")) is None
    assert registry.get("v0002").state == "rejected"
    assert registry.get("v0001").state == "active"


def test_refusals_states_and_unknown_versions_are_left_alone(two_versions: Registry) -> None:
    registry = two_versions
    registry.promote("v0002", mode="shadow")
    refused = _status("v0002", error="weights SHA-256 differs", rolled_back=False)
    assert not is_rollback(refused)
    # The reason text decides nothing: only the schema's field does.
    assert not is_rollback(_status("v0002", error="rolled back: miss rate", rolled_back=False))
    shadow = _status("v0002", state="shadow", error="", rolled_back=False)
    assert not is_rollback(shadow)
    for status in (refused, shadow, _status("v0042")):
        assert apply_edge_rollback(registry, status) is None
    assert registry.get("v0002").state == "shadow"


@pytest.mark.integration
def test_the_retrain_consumer_applies_an_edge_rollback_from_model_status(
    stream_topics: StreamTopics,
    two_versions: Registry,
    signing_key: Ed25519PrivateKey,
    tmp_path: Path,
) -> None:
    announced: list[ModelUpdate] = []
    registry = Registry(two_versions.root, signing_key=signing_key, announce=announced.append)
    registry.promote("v0002", mode="active")
    prefix = stream_topics.prefix
    status_topic = stream_topics.names.model_status
    produce(
        stream_topics.producer(),
        [
            (status_topic, b"hq", b"not a status"),
            (status_topic, b"hq", Codec().encode(_status("v0002"))),
        ],
    )
    consumer = RetrainConsumer(
        retrainer=Retrainer(config=RetrainConfig(workdir=tmp_path / "work"), registry=registry),
        fetch_image=lambda link: b"",
        bootstrap_servers=stream_topics.bootstrap,
        group_id=prefix + "retrain",
        topics=stream_topics.names,
    )
    deadline = time.monotonic() + 60
    consumer.run(should_stop=lambda: len(announced) > 1 or time.monotonic() > deadline)
    assert [(u.model_version, u.rollout_mode) for u in announced] == [
        ("v0002", "active"),
        ("v0001", "active"),
    ]
    assert registry.get("v0002").state == "rejected"
    dead = read_topic(
        stream_topics.bootstrap,
        stream_topics.names.dead_letters,
        until=lambda m: bool(m),
        timeout_s=30,
    )
    letter = Codec().decode(dead[0].value(), DeadLetter)
    assert (letter.source_topic, letter.original) == (status_topic, b"not a status")


@pytest.mark.integration
def test_with_a_keyring_only_the_edge_s_own_rollback_report_counts(
    stream_topics: StreamTopics,
    two_versions: Registry,
    signing_key: Ed25519PrivateKey,
    tmp_path: Path,
) -> None:
    """A forged report (no tag, or another checkpoint's edge) would reject a good model for
    ever, a forged annotation teach the detector: each is dead-lettered; the edge's own
    report rolls the model back."""
    ring = tmp_path / "events.json"
    add_keys(ring, ["edge:hq", "edge:lab"])
    keyring = EventKeyring.load(ring)
    announced: list[ModelUpdate] = []
    registry = Registry(two_versions.root, signing_key=signing_key, announce=announced.append)
    registry.promote("v0002", mode="active")
    topic = stream_topics.names.model_status
    value = Codec().encode(_status("v0002"))
    out = stream_topics.producer()
    out.produce(topic, key=b"hq", value=value)
    out.produce(topic, key=b"hq", value=value, headers=keyring.headers("edge:lab", value))
    out.produce(stream_topics.names.annotations, value=Codec().encode(annotation(0, png(8, 8))))
    assert out.flush(10) == 0
    consumer = RetrainConsumer(
        retrainer=Retrainer(config=RetrainConfig(workdir=tmp_path / "work"), registry=registry),
        fetch_image=lambda link: b"",
        bootstrap_servers=stream_topics.bootstrap,
        group_id=stream_topics.prefix + "retrain",
        topics=stream_topics.names,
        keyring=keyring,
    )
    stop = threading.Event()
    running = threading.Thread(target=consumer.run, kwargs={"should_stop": stop.is_set})
    running.start()
    try:
        dead = read_topic(
            stream_topics.bootstrap,
            stream_topics.names.dead_letters,
            until=lambda got: len(got) >= 3,
            timeout_s=60,
        )
        reasons = [d.reason for d in decoded(dead, DeadLetter)]
        assert any(r.startswith("Annotation of") and "no producer tag" in r for r in reasons)
        assert any("no producer tag" in r for r in reasons), reasons
        assert any("another checkpoint's" in r for r in reasons), reasons
        assert registry.get("v0002").state == "active"
        out.produce(topic, key=b"hq", value=value, headers=keyring.headers("edge:hq", value))
        assert out.flush(10) == 0
        deadline = time.monotonic() + 60
        while len(announced) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        running.join(30)
    assert registry.get("v0002").state == "rejected"
    assert [u.model_version for u in announced] == ["v0002", "v0001"]
