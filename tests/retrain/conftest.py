"""Fixtures of the retrain tests: tiny real models, a signing key, a registry holding them.

The worker fixture of the streams tests is reused as it is (the edge model manager runs
inside a real ``leakguard worker --role edge``); topics and Kafka plumbing come from
tests/conftest.py and tests/kafka_kit.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from retrain.keys import public_key_pem
from retrain.registry import Registry
from tests.retrain.retrain_helpers import save_tiny
from tests.streams.conftest import workers

__all__ = ["workers"]


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    """The registry's key for the whole session."""
    return Ed25519PrivateKey.generate()


@pytest.fixture
def public_key_file(signing_key: Ed25519PrivateKey, tmp_path: Path) -> Path:
    """The registry's public key as the PEM file an edge is configured with."""
    path = tmp_path / "registry.pub.pem"
    path.write_bytes(public_key_pem(signing_key.public_key()))
    return path


@pytest.fixture(scope="session")
def alarming_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model that alarms on every frame."""
    return save_tiny(tmp_path_factory.mktemp("m") / "alarming", version="alarming", phone_bias=1.0)


@pytest.fixture(scope="session")
def quiet_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model that alarms on no frame."""
    return save_tiny(tmp_path_factory.mktemp("m") / "quiet", version="quiet", phone_bias=-8.0)


@pytest.fixture
def registry(tmp_path: Path, signing_key: Ed25519PrivateKey) -> Registry:
    """An empty registry in this test's directory, signing with the session key."""
    return Registry(tmp_path / "registry", signing_key=signing_key)
