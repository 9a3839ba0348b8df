"""The edge model manager without Kafka: real tiny models, real signed artifacts from a real
registry, a real FrameDetector; ModelStatus events collected in a list."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detector.artifacts import MODEL_FILE
from detector.engine import InferenceEngine
from retrain.registry import Registry
from schemas.events import (
    ModelStatus,
    ModelUpdate,
    RolloutTarget,
    ScanFrame,
)
from schemas.images import png_payload
from schemas.rollback import RollbackBounds
from streams.detect import FrameDetector
from streams.exceptions import ModelRefusedError, StreamsConfigError
from streams.rollout.config import RolloutConfig
from streams.rollout.fetch import load_update, trusted_keys
from streams.rollout.manager import ModelManager, rolled_back_memory
from tests.retrain.retrain_helpers import outcomes
from tests.streams.helpers import png

torch.set_num_threads(1)


def _frames(n: int, *, lane: str = "1", start: int = 0) -> list[ScanFrame]:
    return [
        ScanFrame(
            checkpoint="cp",
            lane=lane,
            frame_id=f"cp/{lane}/{i:06d}",
            scanner_id="s",
            view_id="top",
            image=png_payload(png(96, 96, seed=i)),
        )
        for i in range(start, start + n)
    ]


@dataclasses.dataclass
class Edge:
    detector: FrameDetector
    manager: ModelManager
    statuses: list[ModelStatus]
    registry: Registry
    config: RolloutConfig


def _start_edge(registry: Registry, config: RolloutConfig, start_artifact: Path) -> Edge:
    """An edge worker's manager as it starts: ``start_artifact`` serving (``--model``), the
    rolled-back memory read from ``config``'s cache directory."""
    keys = trusted_keys(config.trusted_key_paths)
    detector = FrameDetector(engine=InferenceEngine.from_artifact(start_artifact))
    statuses: list[ModelStatus] = []
    manager = ModelManager(
        detector=detector,
        config=config,
        worker_id="w1",
        load=lambda u: load_update(
            u, keys=keys, cache_dir=Path(config.cache_dir), roots=config.artifact_roots
        ),
        publish=statuses.append,
        rolled_back=rolled_back_memory(config),
    )
    return Edge(detector, manager, statuses, registry, config)


@pytest.fixture
def edge(
    registry: Registry,
    alarming_artifact: Path,
    quiet_artifact: Path,
    public_key_file: Path,
    tmp_path: Path,
) -> Edge:
    """v0001 (alarms everywhere) active at the edge; v0002 (quiet) registered as candidate."""
    registry.register(alarming_artifact, parent=None, state="active")
    registry.register(quiet_artifact, parent="v0001")
    config = RolloutConfig(
        trusted_key_paths=(str(public_key_file),),
        cache_dir=str(tmp_path / "cache"),
        bounds=RollbackBounds(window_outcomes=20, min_outcomes=10),
    )
    return _start_edge(registry, config, registry.artifact_dir("v0001"))


def _versions(detector: FrameDetector, frames: list[ScanFrame]) -> list[str]:
    return [d.model_version for d in detector.run_batch(frames)]  # type: ignore[union-attr]


def test_shadow_runs_both_models_but_only_the_active_one_serves(edge: Edge) -> None:
    edge.manager.on_update(edge.registry.promote("v0002", mode="shadow"))
    assert edge.statuses[-1].state == "shadow"
    assert edge.statuses[-1].shadow_version == "v0002"
    assert _versions(edge.detector, _frames(4)) == ["v0001"] * 4
    edge.manager._next_report = 0.0  # the report interval has passed
    edge.manager.tick()
    assert edge.statuses[-1].agreement_rate == 0.0  # v0001 alarms on all, v0002 on none


def test_canary_serves_only_its_lane_and_activation_serves_everywhere(edge: Edge) -> None:
    edge.manager.on_update(
        edge.registry.promote(
            "v0002", mode="canary", targets=(RolloutTarget(checkpoint="cp", lane="2"),)
        )
    )
    frames = _frames(2, lane="1") + _frames(2, lane="2")
    assert _versions(edge.detector, frames) == ["v0001", "v0001", "v0002", "v0002"]
    edge.manager.on_update(edge.registry.promote("v0002", mode="active"))
    assert _versions(edge.detector, frames) == ["v0002"] * 4
    assert edge.statuses[-1].state == "active"
    assert edge.statuses[-1].active_version == "v0002"
    assert edge.manager.trial_version is None


def _assert_refused(edge: Edge, update: ModelUpdate, fragment: str) -> None:
    edge.manager.on_update(update)
    status = edge.statuses[-1]
    assert status.state == "rejected"
    assert status.model_version == update.model_version
    assert fragment in (status.error or "")
    assert status.active_version == "v0001"
    assert _versions(edge.detector, _frames(2)) == ["v0001", "v0001"]


def test_tampered_weights_are_refused_and_the_old_model_keeps_serving(edge: Edge) -> None:
    update = edge.registry.promote("v0002", mode="active")
    weights = edge.registry.artifact_dir("v0002") / MODEL_FILE
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    _assert_refused(edge, update, "SHA-256")


def test_a_refusal_lasts_until_the_registry_decides_again(edge: Edge) -> None:
    """A store that served bad bytes (or was down) is tried again at the next decision."""
    update = edge.registry.promote("v0002", mode="active")
    weights = edge.registry.artifact_dir("v0002") / MODEL_FILE
    good = weights.read_bytes()
    weights.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    _assert_refused(edge, update, "SHA-256")
    weights.write_bytes(good)
    (again,) = edge.registry.announce_current()
    edge.manager.on_update(again)
    assert edge.manager.active_version == "v0002"


def test_an_artifact_outside_the_edge_s_roots_is_refused_and_nothing_is_cached(
    edge: Edge, tmp_path: Path
) -> None:
    config = dataclasses.replace(edge.config, artifact_roots=(str(tmp_path / "elsewhere"),))
    confined = _start_edge(edge.registry, config, edge.registry.artifact_dir("v0001"))
    _assert_refused(confined, edge.registry.promote("v0002", mode="active"), "artifact roots")
    inside = dataclasses.replace(edge.config, artifact_roots=(str(edge.registry.root),))
    allowed = _start_edge(edge.registry, inside, edge.registry.artifact_dir("v0001"))
    allowed.manager.on_update(edge.registry.announce_current()[0])
    assert allowed.manager.active_version == "v0002"


def test_an_artifact_that_fails_a_check_leaves_nothing_in_the_cache(edge: Edge) -> None:
    update = edge.registry.promote("v0002", mode="active")
    forged = Ed25519PrivateKey.generate().sign(b"anything")
    _assert_refused(edge, dataclasses.replace(update, signature=forged), "signature")
    assert list(Path(edge.config.cache_dir).iterdir()) == []


def test_a_signature_by_an_untrusted_key_is_refused(edge: Edge, quiet_artifact: Path) -> None:
    rogue = Registry(edge.registry.root.parent / "rogue", signing_key=Ed25519PrivateKey.generate())
    rogue.register(quiet_artifact, parent=None, state="retired")
    rogue.register(quiet_artifact, parent=None)
    _assert_refused(edge, rogue.promote("v0002", mode="active"), "not trusted")


def test_a_wrong_signature_under_the_trusted_key_id_is_refused(edge: Edge) -> None:
    update = edge.registry.promote("v0002", mode="active")
    forged = Ed25519PrivateKey.generate().sign(b"anything")
    _assert_refused(edge, dataclasses.replace(update, signature=forged), "signature")


def test_a_pickle_file_is_refused_without_being_read(edge: Edge, tmp_path: Path) -> None:
    pickle = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(3)}, pickle)
    update = dataclasses.replace(
        edge.registry.update_event(edge.registry.get("v0001")),
        model_version="v0009",
        artifact_uri=pickle.as_uri(),
        sha256=hashlib.sha256(pickle.read_bytes()).hexdigest(),
    )
    _assert_refused(edge, update, "pickled files are never loaded")


@pytest.mark.parametrize("version", ["../../escaped", "/etc/leakguard", ".hidden", "v" * 101])
def test_a_version_that_is_no_name_cannot_place_files_outside_the_cache(
    edge: Edge, tmp_path: Path, version: str
) -> None:
    """The version names the cache folder: ``..`` and the like are refused before anything
    is written, and nothing appears outside the cache."""
    update = dataclasses.replace(
        edge.registry.promote("v0002", mode="shadow"), model_version=version
    )
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    _assert_refused(edge, update, "is not a name")
    cache = tmp_path / "cache"
    after = [p for p in sorted(str(p) for p in tmp_path.rglob("*")) if p not in before]
    assert all(Path(p).is_relative_to(cache) for p in after), after


def test_a_worse_active_model_is_rolled_back_automatically(edge: Edge) -> None:
    edge.manager.on_outcomes(outcomes("v0001", "tp", 20))
    edge.manager.on_update(edge.registry.promote("v0002", mode="active"))
    edge.manager.on_outcomes(outcomes("v0002", "tp", 5) + outcomes("v0002", "fn", 4))
    assert edge.manager.active_version == "v0002"  # 9 outcomes: not judged yet
    edge.manager.on_outcomes(outcomes("v0002", "fn", 1))
    assert edge.manager.active_version == "v0001"
    status = edge.statuses[-1]
    assert (status.state, status.model_version, status.active_version) == (
        "rejected",
        "v0002",
        "v0001",
    )
    assert "miss rate" in (status.error or "")
    assert _versions(edge.detector, _frames(2)) == ["v0001", "v0001"]
    edge.manager.on_update(edge.registry.update_event(edge.registry.get("v0002")))
    assert edge.manager.active_version == "v0001"  # a rolled-back version never returns


def test_a_restarted_edge_never_serves_the_version_it_rolled_back(
    edge: Edge, quiet_artifact: Path, tmp_path: Path
) -> None:
    history = [
        edge.registry.update_event(edge.registry.get("v0001")),
        edge.registry.promote("v0002", mode="active"),
    ]
    edge.manager.catch_up(history[:1])
    edge.manager.on_outcomes(outcomes("v0001", "tp", 20))
    edge.manager.on_update(history[1])
    edge.manager.on_outcomes(outcomes("v0002", "fn", 10))
    assert edge.manager.active_version == "v0001"
    # A restart: fresh process state, the same cache directory, another model given at start;
    # the replayed history still announces v0002 as active.
    restarted = _start_edge(edge.registry, edge.config, quiet_artifact)
    restarted.manager.catch_up(history)
    assert restarted.manager.active_version == "v0001"
    assert [(s.model_version, s.state) for s in restarted.statuses] == [("v0001", "active")]
    assert _versions(restarted.detector, _frames(2)) == ["v0001", "v0001"]
    restarted.manager.on_update(edge.registry.update_event(edge.registry.get("v0002")))
    assert restarted.manager.active_version == "v0001"
    # What the memory prevents: a worker with another cache directory follows the history.
    forgetful_config = dataclasses.replace(edge.config, cache_dir=str(tmp_path / "other"))
    forgetful = _start_edge(edge.registry, forgetful_config, quiet_artifact)
    forgetful.manager.catch_up(history)
    assert forgetful.manager.active_version == "v0002"


def test_an_unreadable_rolled_back_memory_stops_the_start(edge: Edge) -> None:
    memory = rolled_back_memory(edge.config)
    memory.add("v0002", "miss rate worse")
    assert "v0002" in rolled_back_memory(edge.config)
    assert memory.path is not None
    memory.path.write_text("{not json")
    with pytest.raises(StreamsConfigError, match="rolled-back"):
        rolled_back_memory(edge.config)


def test_a_replayed_history_loads_only_what_it_amounts_to(edge: Edge) -> None:
    shadow = edge.registry.promote("v0002", mode="shadow")
    active = edge.registry.promote("v0002", mode="active")
    edge.manager.catch_up([shadow, active])
    assert [s.state for s in edge.statuses] == ["active"]
    assert _versions(edge.detector, _frames(1)) == ["v0002"]


def test_loading_an_unknown_key_raises_before_fetching(edge: Edge, tmp_path: Path) -> None:
    update = dataclasses.replace(
        edge.registry.update_event(edge.registry.get("v0001")), signing_key_id="0" * 16
    )
    with pytest.raises(ModelRefusedError, match="not trusted"):
        load_update(update, keys={}, cache_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_agreement_is_per_frame_alarm_decision() -> None:
    from streams.rollout.engine import RolloutEngine

    class Fixed:
        def __init__(self, version: str, alarmed: bool) -> None:
            self.model_version = version
            self._alarmed = alarmed

        def predict(self, images):  # type: ignore[no-untyped-def]
            from detector.engine import DetectedObject

            obj = DetectedObject(3, "phone", 0.9, (0.0, 0.0, 4.0, 4.0), self._alarmed)
            return [[obj] for _ in images]

    engine = RolloutEngine(active=Fixed("a", True), trial=Fixed("b", True))
    frames = _frames(3)
    served = engine.predict_frames(frames, [np.zeros((4, 4, 3), np.uint8)] * 3)
    assert [v for v, _ in served] == ["a"] * 3
    assert engine.agreement.rate() == 1.0
