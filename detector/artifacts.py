"""Model artifacts: safetensors weights + a JSON model card, hash-checked and optionally signed.

An artifact is a directory::

    model.safetensors   weights (never pickle: loading cannot run code)
    model_card.json     version, preset (full config), label map, preprocessing, data
                        fingerprint, metrics, weights_sha256
    signature           optional: base64 Ed25519 signature (see :func:`signing_payload`)

Loading always recomputes the SHA-256 of the weight bytes it then parses (one read, so the
bytes checked are the bytes used) and compares it with the card; with a public key it also
requires a valid signature over the card. Anything else, a ``.pt`` pickle in particular, is
refused with :class:`ArtifactError`. The retrain registry signs, edge model managers verify.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import torch
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn
from torchvision.models.detection.retinanet import RetinaNet

from detector.exceptions import ArtifactError, ModelConfigError
from detector.model.builder import build_retinanet
from detector.model.presets import DetectorPreset
from detector.operating_point import OperatingPoint
from leakguard.classes import CLASS_NAMES

__all__ = [
    "CARD_FILE",
    "MODEL_FILE",
    "SIGNATURE_FILE",
    "LoadedArtifact",
    "ModelCard",
    "load_artifact",
    "load_public_key",
    "public_key_id",
    "record_operating_point",
    "save_artifact",
    "sign_artifact",
    "signing_payload",
]

MODEL_FILE: Final[str] = "model.safetensors"
CARD_FILE: Final[str] = "model_card.json"
SIGNATURE_FILE: Final[str] = "signature"
#: Bumped when the card layout changes incompatibly; loaders refuse unknown formats.
CARD_FORMAT: Final[int] = 1
#: Hex digits of a key id: 64 bits make an accidental collision between keys negligible.
KEY_ID_HEX_DIGITS: Final[int] = 16
#: Domain separation: a signature over an artifact can never be replayed as another message.
_SIGNING_CONTEXT: Final[bytes] = b"leakguard-model-artifact/v1\n"
#: What the engine does before the model's own resize/normalise; recorded for other runtimes.
PREPROCESSING: Final[dict[str, Any]] = {
    "input": "RGB uint8 HxWx3 (PNG decoded with Pillow, converted to RGB)",
    "scale": "divide by 255 -> float32 [0, 1], CHW",
    "model_internal": "resize shorter side to min_size (longer <= max_size), "
    "normalise with image_mean/image_std; boxes mapped back to input pixels",
}


@dataclass(frozen=True)
class ModelCard:
    """Everything needed to rebuild, trust and judge a model; stored as ``model_card.json``."""

    version: str
    preset: DetectorPreset
    weights_sha256: str
    label_map: dict[int, str] = field(default_factory=lambda: dict(CLASS_NAMES))
    preprocessing: dict[str, Any] = field(default_factory=lambda: dict(PREPROCESSING))
    data_fingerprint: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    weights_dtype: str = "float32"
    created_at: str = ""
    format: int = CARD_FORMAT
    #: Where a retrained model alarms (:mod:`detector.operating_point`); None: at the
    #: edge's configured thresholds.
    operating_point: OperatingPoint | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form; label map keys become strings as JSON requires. A card without an
        operating point has no such key, so the cards signed before it existed still
        verify."""
        point = (
            {}
            if self.operating_point is None
            else {"operating_point": self.operating_point.to_dict()}
        )
        return {
            "format": self.format,
            "version": self.version,
            "created_at": self.created_at,
            "preset": self.preset.to_dict(),
            "label_map": {str(k): v for k, v in sorted(self.label_map.items())},
            "preprocessing": self.preprocessing,
            "data_fingerprint": self.data_fingerprint,
            "metrics": self.metrics,
            "training": self.training,
            "weights_dtype": self.weights_dtype,
            "weights_sha256": self.weights_sha256,
            **point,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Parse a card; unknown formats and malformed fields raise :class:`ArtifactError`."""
        if data.get("format") != CARD_FORMAT:
            raise ArtifactError(f"unsupported model card format {data.get('format')!r}")
        try:
            return cls(
                version=str(data["version"]),
                preset=DetectorPreset.from_dict(dict(data["preset"])),
                weights_sha256=str(data["weights_sha256"]),
                label_map={int(k): str(v) for k, v in data["label_map"].items()},
                preprocessing=dict(data.get("preprocessing", {})),
                data_fingerprint=data.get("data_fingerprint"),
                metrics={str(k): float(v) for k, v in data.get("metrics", {}).items()},
                training=dict(data.get("training", {})),
                weights_dtype=str(data.get("weights_dtype", "float32")),
                created_at=str(data.get("created_at", "")),
                operating_point=(
                    None
                    if data.get("operating_point") is None
                    else OperatingPoint.from_dict(dict(data["operating_point"]))
                ),
            )
        except (KeyError, TypeError, ValueError, ModelConfigError) as exc:
            raise ArtifactError(f"malformed model card: {exc}") from exc


def canonical_json(data: dict[str, Any]) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces) so signatures are reproducible."""
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def signing_payload(card: ModelCard) -> bytes:
    """The signed message: context, the weights hash, then the card's canonical JSON."""
    return _SIGNING_CONTEXT + card.weights_sha256.encode() + b"\n" + canonical_json(card.to_dict())


@dataclass(frozen=True)
class LoadedArtifact:
    """A verified model (eval mode, on the requested device) and its card."""

    model: RetinaNet
    card: ModelCard


def save_artifact(
    path: Path | str,
    *,
    model: nn.Module,
    preset: DetectorPreset,
    version: str,
    metrics: dict[str, float] | None = None,
    data_fingerprint: str | None = None,
    training: dict[str, Any] | None = None,
    half: bool = False,
) -> ModelCard:
    """Write ``model`` as an artifact directory at ``path``; returns the card written.

    ``half`` stores float16 weights (half the size, loaded back as float32) for shipping the
    starter model; leave it off where save -> load must reproduce outputs bit for bit.
    """
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    weights = {
        k: (v.to(dtype) if v.is_floating_point() else v).detach().contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    blob = save_safetensors(weights)
    card = ModelCard(
        version=version,
        preset=preset,
        weights_sha256=hashlib.sha256(blob).hexdigest(),
        data_fingerprint=data_fingerprint,
        metrics=dict(metrics or {}),
        training=dict(training or {}),
        weights_dtype="float16" if half else "float32",
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    (directory / MODEL_FILE).write_bytes(blob)
    _write_card(directory, card)
    return card


def _write_card(directory: Path, card: ModelCard) -> None:
    """Write ``card`` and drop the signature, which covered an earlier card (a stale
    signature never verifies)."""
    (directory / CARD_FILE).write_text(json.dumps(card.to_dict(), indent=2))
    (directory / SIGNATURE_FILE).unlink(missing_ok=True)


def record_operating_point(path: Path | str, point: OperatingPoint) -> ModelCard:
    """Write ``point`` into the (hash-checked) card of the artifact at ``path``; drops its
    signature, which covered the card without it. Returns the new card."""
    directory = Path(path)
    card, _ = _read_verified(directory)
    card = dataclasses.replace(card, operating_point=point)
    _write_card(directory, card)
    return card


def sign_artifact(path: Path | str, private_key: Ed25519PrivateKey) -> bytes:
    """Sign the artifact at ``path`` (after verifying its hash); writes ``signature``."""
    directory = Path(path)
    card, _ = _read_verified(directory)
    signature = private_key.sign(signing_payload(card))
    (directory / SIGNATURE_FILE).write_text(base64.b64encode(signature).decode() + "\n")
    return signature


def public_key_id(public_key: Ed25519PublicKey) -> str:
    """The id of ``public_key``: leading hex digits of the SHA-256 of its raw bytes.

    Derived, never configured, so a ``ModelUpdate``'s ``signing_key_id`` cannot disagree
    with the key that made its signature.
    """
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KEY_ID_HEX_DIGITS]


def load_public_key(path: Path | str) -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM file ``path`` (what a verifier trusts)."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise ArtifactError(f"cannot read the public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ArtifactError(f"{path} is not an Ed25519 public key")
    return key


def _read_verified(directory: Path) -> tuple[ModelCard, bytes]:
    """Card and weight bytes of ``directory``, with the SHA-256 checked."""
    if not directory.is_dir():
        raise ArtifactError(
            f"{directory} is not an artifact directory ({MODEL_FILE} + {CARD_FILE}); "
            "pickled checkpoints (.pt/.pth) are never loaded"
        )
    card_path, weights_path = directory / CARD_FILE, directory / MODEL_FILE
    if not card_path.is_file() or not weights_path.is_file():
        raise ArtifactError(f"{directory} lacks {MODEL_FILE} or {CARD_FILE}")
    try:
        card = ModelCard.from_dict(json.loads(card_path.read_text()))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{card_path}: not JSON: {exc}") from exc
    blob = weights_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != card.weights_sha256:
        raise ArtifactError(f"{weights_path}: SHA-256 does not match the model card")
    if card.label_map != CLASS_NAMES:
        raise ArtifactError("model card label map disagrees with leakguard.classes")
    return card, blob


def _verify_signature(directory: Path, card: ModelCard, public_key: Ed25519PublicKey) -> None:
    sig_path = directory / SIGNATURE_FILE
    if not sig_path.is_file():
        raise ArtifactError(f"{directory} is unsigned but a public key was given")
    try:
        public_key.verify(base64.b64decode(sig_path.read_text().strip()), signing_payload(card))
    except (InvalidSignature, ValueError) as exc:
        raise ArtifactError(f"{directory}: signature does not verify") from exc


def load_artifact(
    path: Path | str,
    *,
    public_key: Ed25519PublicKey | None = None,
    device: torch.device | str = "cpu",
) -> LoadedArtifact:
    """Verify and load an artifact: hash always, Ed25519 signature when ``public_key`` is set.

    Returns the model in eval mode, float32, on ``device``. Raises :class:`ArtifactError` for
    any mismatch, a missing part, a non-directory path (e.g. a pickle) or unparsable weights.
    """
    directory = Path(path)
    card, blob = _read_verified(directory)
    if public_key is not None:
        _verify_signature(directory, card, public_key)
    try:
        weights = load_safetensors(blob)
    except SafetensorError as exc:
        raise ArtifactError(f"{directory}: weights are not valid safetensors: {exc}") from exc
    model = build_retinanet(card.preset, pretrained=False)
    try:
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}
        )
    except RuntimeError as exc:
        raise ArtifactError(f"{directory}: weights do not fit preset {card.preset.name}") from exc
    model.eval().to(device)
    return LoadedArtifact(model=model, card=card)
