"""The drift bench's rollout (``bench.drift.roll_out``) follows the edge's own verdict: a
candidate the edge rolls back in canary is rejected in the registry and never promoted."""

from __future__ import annotations

import argparse
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.drift import LANE_EVAL, roll_out
from bench.drift_edge import Edge, drifted_frames
from retrain.keys import public_key_pem
from retrain.registry import Registry
from schemas.events import ModelUpdate
from tests.retrain.retrain_helpers import outcomes, save_tiny

SIZE = 160


def test_a_candidate_rolled_back_in_canary_is_rejected_and_the_parent_serves(
    tmp_path: Path,
) -> None:
    key = Ed25519PrivateKey.generate()
    public_key = tmp_path / "registry.pub.pem"
    public_key.write_bytes(public_key_pem(key.public_key()))
    updates: list[ModelUpdate] = []
    registry = Registry(tmp_path / "registry", signing_key=key, announce=updates.append)
    alarming = save_tiny(tmp_path / "alarming", version="alarming", phone_bias=1.0)
    quiet = save_tiny(tmp_path / "quiet", version="quiet", phone_bias=-8.0)
    parent = registry.register(alarming, parent=None, state="active")
    edge = Edge(registry.artifact_dir(parent.version), public_key, tmp_path / "cache", 0.5)
    evaluation = drifted_frames(LANE_EVAL, 30, size=SIZE, seed=1)
    edge.manager.on_outcomes(outcomes(parent.version, "tp", 100))  # it found every medium
    candidate = registry.register(quiet, parent=parent.version)
    registry.promote(candidate.version, mode="shadow")

    steps, final = roll_out(
        registry,
        edge,
        updates,
        candidate.version,
        evaluation,
        args=argparse.Namespace(seed=1, n_rollout=30),
        size=SIZE,
    )

    assert [step["state"] for step in steps] == ["shadow", "canary", "rolled back", "active"]
    assert steps[1]["missed"] > 0
    assert steps[1]["true_alarms"] == 0
    assert "miss rate" in steps[2]["reason"]
    assert registry.get(candidate.version).state == "rejected"
    assert registry.get(parent.version).state == "active"
    assert edge.manager.active_version == parent.version
    assert final.served_by == {parent.version: len(evaluation)}
