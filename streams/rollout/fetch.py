"""Fetch and verify the model a ``ModelUpdate`` announces, then load it (never unpickling).

Checks, in order, each failure a :class:`~streams.exceptions.ModelRefusedError` naming it:

1. the update's ``signing_key_id`` is one this edge trusts;
2. its label map is leakguard's class table;
3. ``artifact_uri`` lies under the edge's artifact roots (when it has any) and is an
   artifact directory (``model.safetensors`` + ``model_card.json``); a pickle
   (``.pt``/``.pth`` or any other file) is refused before a byte of it is read;
4. the fetched weights hash to the update's ``sha256``;
5. :func:`detector.artifacts.load_artifact` with the trusted key: the card's hash, the
   update's Ed25519 signature over the card, and that the weights fit the card's preset;
6. the card's version is the update's version.

Files are copied (any fsspec URL) into a staging folder of the cache first, so what is
verified is what is loaded, and a later change at the source cannot swap the weights; the
folder becomes ``cache_dir/<version>-<sha>`` only once every check passed, so nothing
unverified is ever left where a model is looked for.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import fsspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from detector.artifacts import (
    CARD_FILE,
    MODEL_FILE,
    SIGNATURE_FILE,
    load_public_key,
    public_key_id,
)
from detector.engine import InferenceEngine
from detector.exceptions import ArtifactError
from leakguard.classes import CLASS_NAMES
from schemas.events import ModelUpdate
from schemas.roots import UriRoots
from streams.exceptions import ModelRefusedError

__all__ = ["fetch_artifact", "load_update", "trusted_keys"]

#: Suffix of the folder an artifact is fetched into and verified in.
_STAGING_SUFFIX: Final[str] = ".part"

#: Hex digits of the weights hash in a cache directory name: unique per artifact.
_CACHE_HASH_DIGITS = 16
#: A model version as it may name a cache folder: no separators, no leading dot.
_VERSION: Final[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,99}")
_SHA256: Final[re.Pattern[str]] = re.compile(r"[0-9a-fA-F]{64}")
#: Largest weights or card file fetched: the edge preset's float16 weights are 10 MB, a
#: float32 ResNet-50 RetinaNet about 150 MB; more is not a model.
MAX_ARTIFACT_FILE_BYTES: Final[int] = 512 * 1024 * 1024


def trusted_keys(paths: Sequence[Path | str]) -> dict[str, Ed25519PublicKey]:
    """Key id -> public key, for the PEM files an edge is configured to trust."""
    keys = [load_public_key(path) for path in paths]
    return {public_key_id(key): key for key in keys}


def _copy(fs: Any, source: str, target: Path) -> None:
    """Copy at most :data:`MAX_ARTIFACT_FILE_BYTES`; a larger file is refused, not cut."""
    copied = 0
    with fs.open(source, "rb") as src, target.open("wb") as dst:
        while chunk := src.read(1 << 20):
            copied += len(chunk)
            if copied > MAX_ARTIFACT_FILE_BYTES:
                raise ModelRefusedError(f"{source} exceeds {MAX_ARTIFACT_FILE_BYTES} bytes")
            dst.write(chunk)


def fetch_artifact(update: ModelUpdate, *, cache_dir: Path, roots: Sequence[str] = ()) -> Path:
    """Copy the update's artifact, with the update's signature, into a staging folder of the
    cache and return that folder; checks 2-4 (``roots``: where artifacts may come from,
    empty: anywhere)."""
    if {e.class_id: e.class_name for e in update.label_map} != CLASS_NAMES:
        raise ModelRefusedError("label map disagrees with leakguard.classes")
    # Both name the cache folder: an event must not be able to make that a path elsewhere.
    if _VERSION.fullmatch(update.model_version) is None:
        raise ModelRefusedError(f"model version {update.model_version[:100]!r} is not a name")
    if _SHA256.fullmatch(update.sha256) is None:
        raise ModelRefusedError("sha256 is not 64 hex digits")
    if roots and not UriRoots(roots).holds(update.artifact_uri):
        raise ModelRefusedError(
            f"{update.artifact_uri[:200]} is outside the artifact roots of this edge "
            f"({', '.join(roots)})"
        )
    try:
        fs, root = fsspec.core.url_to_fs(update.artifact_uri)
        is_dir = fs.isdir(root)
    except (OSError, ValueError, ImportError) as exc:
        raise ModelRefusedError(f"cannot reach {update.artifact_uri}: {exc}") from exc
    if not is_dir:
        raise ModelRefusedError(
            f"{update.artifact_uri} is not an artifact directory ({MODEL_FILE} + {CARD_FILE});"
            " pickled files are never loaded"
        )
    target = _target(update, cache_dir)
    staging = target.with_name(target.name + _STAGING_SUFFIX)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for name in (MODEL_FILE, CARD_FILE):
            _copy(fs, f"{str(root).rstrip('/')}/{name}", staging / name)
    except (OSError, FileNotFoundError, ModelRefusedError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, ModelRefusedError):
            raise
        raise ModelRefusedError(f"{update.artifact_uri}: cannot fetch {exc}") from exc
    digest = hashlib.sha256((staging / MODEL_FILE).read_bytes()).hexdigest()
    if digest != update.sha256.lower():
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelRefusedError(f"weights SHA-256 {digest[:12]}... is not the announced one")
    (staging / SIGNATURE_FILE).write_text(base64.b64encode(update.signature).decode() + "\n")
    return staging


def _target(update: ModelUpdate, cache_dir: Path) -> Path:
    return cache_dir / f"{update.model_version}-{update.sha256[:_CACHE_HASH_DIGITS]}"


def load_update(
    update: ModelUpdate,
    *,
    keys: Mapping[str, Ed25519PublicKey],
    cache_dir: Path,
    thresholds: Mapping[int, float] | None = None,
    device: str = "cpu",
    roots: Sequence[str] = (),
) -> InferenceEngine:
    """The verified engine of ``update`` (all six checks of the module docstring), on
    ``device``; its files stay in the cache only when every check passed."""
    key = keys.get(update.signing_key_id)
    if key is None:
        raise ModelRefusedError(f"signing key {update.signing_key_id!r} is not trusted here")
    staging = fetch_artifact(update, cache_dir=cache_dir, roots=roots)
    try:
        engine = InferenceEngine.from_artifact(
            staging, public_key=key, thresholds=thresholds, device=device
        )
        if engine.model_version != update.model_version:
            raise ModelRefusedError(
                f"artifact is version {engine.model_version}, update says {update.model_version}"
            )
    except ArtifactError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelRefusedError(str(exc)) from exc
    except ModelRefusedError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    target = _target(update, cache_dir)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return engine
