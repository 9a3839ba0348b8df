"""Artifacts: save -> load is exact, tampering and pickles are refused, signatures verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detector.artifacts import (
    load_artifact,
    record_operating_point,
    save_artifact,
    sign_artifact,
)
from detector.engine import InferenceEngine
from detector.exceptions import ArtifactError
from detector.model import get_preset
from detector.operating_point import OperatingPoint
from leakguard.classes import alarm_thresholds


@pytest.fixture
def artifact(tmp_path: Path, tiny_model) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "artifact"
    save_artifact(path, model=tiny_model, preset=get_preset("tiny"), version="1.2.3")
    return path


def test_save_load_gives_identical_outputs(artifact: Path, tiny_model) -> None:  # type: ignore[no-untyped-def]
    images = [torch.rand(3, 96, 128, generator=torch.Generator().manual_seed(1))]
    tiny_model.eval()
    # Lower the score floor so a random model emits boxes to compare.
    tiny_model.score_thresh = 0.0
    loaded = load_artifact(artifact)
    loaded.model.score_thresh = 0.0
    with torch.inference_mode():
        expected, got = tiny_model(images)[0], loaded.model(images)[0]
    assert expected["boxes"].numel() > 0
    for key in ("boxes", "scores", "labels"):
        assert torch.equal(expected[key], got[key])
    assert loaded.card.version == "1.2.3"
    assert loaded.card.label_map[6] == "sdcard"


def test_tampered_weights_or_card_are_refused(artifact: Path) -> None:
    weights = artifact / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0x01
    weights.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="SHA-256"):
        load_artifact(artifact)


def test_card_edit_breaks_the_signature(artifact: Path) -> None:
    key = Ed25519PrivateKey.generate()
    sign_artifact(artifact, key)
    assert load_artifact(artifact, public_key=key.public_key()).card.version == "1.2.3"
    with pytest.raises(ArtifactError, match="signature"):
        load_artifact(artifact, public_key=Ed25519PrivateKey.generate().public_key())
    card_path = artifact / "model_card.json"
    card = json.loads(card_path.read_text())
    card["metrics"] = {"map50_media": 0.99}
    card_path.write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="signature"):
        load_artifact(artifact, public_key=key.public_key())


def test_a_recorded_operating_point_is_signed_with_the_card_and_served(artifact: Path) -> None:
    assert "operating_point" not in json.loads((artifact / "model_card.json").read_text())
    key = Ed25519PrivateKey.generate()
    sign_artifact(artifact, key)
    point = OperatingPoint(edge_threshold=0.3, alarm_threshold=0.42, miss_rate=0.1)
    card = record_operating_point(artifact, point)
    assert card.operating_point == point
    assert not (artifact / "signature").exists()  # it covered the card without the point
    sign_artifact(artifact, key)
    assert load_artifact(artifact, public_key=key.public_key()).card.operating_point == point
    engine = InferenceEngine.from_artifact(artifact, thresholds=alarm_thresholds(0.3))
    assert dict(engine.thresholds) == alarm_thresholds(0.42)
    engine = InferenceEngine.from_artifact(artifact, thresholds=alarm_thresholds(0.6))
    assert dict(engine.thresholds) == alarm_thresholds(0.6)
    card_path = artifact / "model_card.json"
    edited = json.loads(card_path.read_text())
    edited["operating_point"]["alarm_threshold"] = 0.99  # fewer alarms, more misses
    card_path.write_text(json.dumps(edited))
    with pytest.raises(ArtifactError, match="signature"):
        load_artifact(artifact, public_key=key.public_key())
    edited["operating_point"]["alarm_threshold"] = 1.5
    card_path.write_text(json.dumps(edited))
    with pytest.raises(ArtifactError, match="operating point"):
        load_artifact(artifact)


def test_unsigned_artifact_is_refused_when_a_key_is_required(artifact: Path) -> None:
    with pytest.raises(ArtifactError, match="unsigned"):
        load_artifact(artifact, public_key=Ed25519PrivateKey.generate().public_key())


def test_pickle_files_are_never_loaded(tmp_path: Path, tiny_model) -> None:  # type: ignore[no-untyped-def]
    pickle_path = tmp_path / "model.pt"
    torch.save(tiny_model.state_dict(), pickle_path)
    with pytest.raises(ArtifactError, match="pickle"):
        load_artifact(pickle_path)
    # A pickle renamed into an artifact directory fails the safetensors parse or the hash.
    fake = tmp_path / "fake"
    save_artifact(fake, model=tiny_model, preset=get_preset("tiny"), version="x")
    (fake / "model.safetensors").write_bytes(pickle_path.read_bytes())
    with pytest.raises(ArtifactError):
        load_artifact(fake)


def test_half_precision_artifact_loads_as_float32(tmp_path: Path, tiny_model) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "half"
    card = save_artifact(path, model=tiny_model, preset=get_preset("tiny"), version="h", half=True)
    assert card.weights_dtype == "float16"
    model = load_artifact(path).model
    assert all(p.dtype == torch.float32 for p in model.parameters())
