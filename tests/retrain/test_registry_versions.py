"""The model registry on a real directory with real signed tiny artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detector.artifacts import load_artifact
from retrain.exceptions import RegistryError
from retrain.keys import load_or_create_private_key
from retrain.registry import GATE, Registry
from schemas.events import ModelUpdate, RolloutTarget


def test_register_signs_a_verifiable_copy_under_the_registry_version(
    registry: Registry, alarming_artifact: Path, signing_key: Ed25519PrivateKey
) -> None:
    record = registry.register(alarming_artifact, parent=None, metrics={"extra": 1.0})
    assert (record.version, record.state, record.parent) == ("v0001", "candidate", None)
    loaded = load_artifact(registry.artifact_dir("v0001"), public_key=signing_key.public_key())
    assert loaded.card.version == "v0001"  # the signature covers the registry's version
    assert loaded.card.weights_sha256 == record.sha256
    assert record.metrics["extra"] == 1.0
    assert registry.register(alarming_artifact, parent="v0001").version == "v0002"
    assert [r.version for r in registry.versions()] == ["v0001", "v0002"]
    with pytest.raises(RegistryError, match="no model"):
        registry.register(alarming_artifact, parent="v0042")


def test_promotion_announces_and_activation_retires_the_previous_model(
    registry: Registry, alarming_artifact: Path, quiet_artifact: Path
) -> None:
    announced: list[ModelUpdate] = []
    registry = Registry(registry.root, signing_key=registry._key, announce=announced.append)
    registry.register(alarming_artifact, parent=None, state="active")
    registry.register(quiet_artifact, parent="v0001")
    registry.promote(
        "v0002",
        mode="canary",
        targets=(RolloutTarget(checkpoint="hq", lane="2"),),
        reason="passed: base mAP@0.5 66.0 vs parent 65.1",
        decided_by=GATE,
    )
    registry.promote("v0002", mode="active", reason="canary looked fine", decided_by="operator:ana")
    assert [(u.model_version, u.rollout_mode, u.decided_by) for u in announced] == [
        ("v0002", "canary", "gate"),
        ("v0002", "active", "operator:ana"),
    ]
    assert [u.reason for u in announced] == [
        "passed: base mAP@0.5 66.0 vs parent 65.1",
        "canary looked fine",
    ]
    assert registry.get("v0001").history[-1].decided_by == "operator:ana"  # its retirement
    canary = announced[0]
    assert canary.targets == (RolloutTarget(checkpoint="hq", lane="2"),)
    assert canary.parent_version == "v0001"
    assert Path(canary.artifact_uri.removeprefix("file://")) == registry.artifact_dir("v0002")
    assert registry.get("v0001").state == "retired"
    assert [h.state for h in registry.get("v0002").history] == ["candidate", "canary", "active"]


def test_rollback_rejects_the_active_model_and_reactivates_its_parent(
    registry: Registry, alarming_artifact: Path, quiet_artifact: Path
) -> None:
    registry.register(alarming_artifact, parent=None, state="active")
    registry.register(quiet_artifact, parent="v0001")
    registry.promote("v0002", mode="active")
    event = registry.rollback(reason="too many false alarms", decided_by="edge:edge-hq-1")
    assert (event.model_version, event.rollout_mode) == ("v0001", "active")
    assert event.decided_by == "edge:edge-hq-1"
    assert event.reason == "rollback from v0002: too many false alarms"
    assert registry.get("v0002").state == "rejected"
    assert registry.get("v0002").history[-1].reason == "too many false alarms"
    with pytest.raises(RegistryError, match="cannot become"):
        registry.promote("v0002", mode="shadow")
    with pytest.raises(RegistryError, match="no retired predecessor"):
        registry.rollback()


def test_registering_needs_the_key_and_a_valid_artifact(
    registry: Registry, alarming_artifact: Path, tmp_path: Path
) -> None:
    with pytest.raises(RegistryError, match="signing key"):
        Registry(registry.root).register(alarming_artifact, parent=None)
    broken = tmp_path / "broken"
    broken.mkdir()
    for part in alarming_artifact.iterdir():
        (broken / part.name).write_bytes(part.read_bytes())
    card = json.loads((broken / "model_card.json").read_text())
    card["weights_sha256"] = "0" * 64
    (broken / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(RegistryError, match="refusing"):
        registry.register(broken, parent=None)


def test_signing_key_is_created_once_with_private_permissions(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.pem"
    first = load_or_create_private_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_or_create_private_key(path)
    assert first.public_key().public_bytes_raw() == again.public_key().public_bytes_raw()


def test_a_history_written_before_decisions_were_recorded_announces_none(
    registry: Registry, alarming_artifact: Path
) -> None:
    """A registry.json of an older release has no ``decided_by``: the update says nothing
    rather than inventing who took the step."""
    record = registry.register(alarming_artifact, parent=None, state="active")
    path = registry.artifact_dir(record.version) / "registry.json"
    data = json.loads(path.read_text())
    for change in data["history"]:
        del change["decided_by"]
    path.write_text(json.dumps(data))
    event = registry.update_event(registry.get(record.version))
    assert event.decided_by is None
    assert event.reason == "registered"
