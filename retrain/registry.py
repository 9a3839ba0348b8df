"""The model registry: signed artifacts by version, with parent, data fingerprint, metrics
and rollout state, in a directory.

Layout (one directory per version; every file written to a temporary name and renamed)::

    <root>/models/v0007/model.safetensors   weights (detector.artifacts)
    <root>/models/v0007/model_card.json     card: preset, label map, metrics, fingerprint
    <root>/models/v0007/signature           Ed25519 signature of the card (registry key)
    <root>/models/v0007/registry.json       parent, state, rollout, history of state changes
    <root>/keys/<key id>.pem                public halves of the keys that signed models
    <root>/decisions                        the number of the last rollout decision

States: ``candidate`` (registered, gated), ``shadow``, ``canary``, ``active``, ``retired``
(replaced by a newer active model) and ``rejected`` (failed its gate, refused, rolled back).
Every change of a rollout state (shadow, canary, active, and the re-activation a rollback
makes) is announced as a :class:`~schemas.events.ModelUpdate` through the injected
``announce`` callback, so the edges follow the registry; ``retired`` and ``rejected`` are the
registry's own bookkeeping, which the ``ModelUpdate`` contract has no mode for.

Each announcement is a signed decision (:mod:`schemas.decisions`): numbered one higher than
the registry's last one and signed with its key, so an edge refuses a forged or replayed
decision. Numbering, signing and announcing happen under an exclusive lock on the decisions
file, so two processes sharing a registry (the retrain consumer and an operator) announce
in the order of their numbers.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detector.artifacts import (
    CARD_FILE,
    MODEL_FILE,
    ModelCard,
    load_artifact,
    public_key_id,
    sign_artifact,
)
from detector.exceptions import ArtifactError
from leakguard.classes import CLASS_NAMES
from retrain.exceptions import RegistryError
from retrain.keys import public_key_pem
from schemas.decisions import decision_message
from schemas.events import (
    LabelMapEntry,
    ModelStateName,
    ModelUpdate,
    RolloutModeName,
    RolloutTarget,
)

__all__ = ["ALLOWED_TRANSITIONS", "GATE", "OPERATOR", "ModelRecord", "Registry", "StateChange"]

RECORD_FILE: Final[str] = "registry.json"
MODELS_DIR: Final[str] = "models"
KEYS_DIR: Final[str] = "keys"
DECISIONS_FILE: Final[str] = "decisions"
#: Which state may follow which: a rejected model never comes back; a retired one may, as
#: the target of a rollback.
ALLOWED_TRANSITIONS: Final[Mapping[ModelStateName, frozenset[ModelStateName]]] = {
    "candidate": frozenset({"shadow", "canary", "active", "rejected"}),
    "shadow": frozenset({"canary", "active", "rejected", "retired"}),
    "canary": frozenset({"shadow", "active", "rejected", "retired"}),
    "active": frozenset({"retired", "rejected"}),
    "retired": frozenset({"active"}),
    "rejected": frozenset(),
}
_ROLLOUT_STATES: Final[frozenset[ModelStateName]] = frozenset({"shadow", "canary", "active"})


#: Who took a step when the caller does not say: someone using the registry by hand.
OPERATOR: Final[str] = "operator"
#: The retrain gate, which rolls out a candidate it passed.
GATE: Final[str] = "gate"


@dataclass(frozen=True)
class StateChange:
    """One entry of a version's history: the new state, when, why, and who or what took
    the step (``gate``, ``operator[:name]``, ``edge:<worker id>``; empty in histories
    written before registries recorded it)."""

    state: ModelStateName
    at: str
    reason: str = ""
    decided_by: str = ""


@dataclass(frozen=True)
class ModelRecord:
    """What the registry knows of one version (``registry.json``)."""

    version: str
    parent: str | None
    state: ModelStateName
    sha256: str
    signing_key_id: str
    signature: bytes
    data_fingerprint: str | None
    metrics: dict[str, float]
    training_set: str | None = None
    targets: tuple[RolloutTarget, ...] = ()
    history: tuple[StateChange, ...] = ()
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form (signature as hex)."""
        data = asdict(self)
        data["signature"] = self.signature.hex()
        data["targets"] = [asdict(t) for t in self.targets]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelRecord:
        """Parse ``registry.json``; malformed records raise :class:`RegistryError`."""
        try:
            return cls(
                version=str(data["version"]),
                parent=data.get("parent"),
                state=data["state"],
                sha256=str(data["sha256"]),
                signing_key_id=str(data["signing_key_id"]),
                signature=bytes.fromhex(data["signature"]),
                data_fingerprint=data.get("data_fingerprint"),
                metrics={str(k): float(v) for k, v in data.get("metrics", {}).items()},
                training_set=data.get("training_set"),
                targets=tuple(RolloutTarget(**t) for t in data.get("targets", [])),
                history=tuple(StateChange(**h) for h in data.get("history", [])),
                created_at=str(data.get("created_at", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(f"malformed registry record: {exc}") from exc


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Registry:
    """Versions under ``root``; ``announce`` receives every rollout ``ModelUpdate``.

    ``signing_key`` is needed to register (sign) models and to announce decisions (promote,
    roll back); listing, reading and rejecting work with the public records alone.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        announce: Callable[[ModelUpdate], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self._key = signing_key
        self._announce = announce

    def _dir(self, version: str) -> Path:
        if not version or "/" in version or version.startswith("."):
            raise RegistryError(f"bad model version {version!r}")
        return self.root / MODELS_DIR / version

    def artifact_dir(self, version: str) -> Path:
        """The artifact directory of ``version`` (it must exist)."""
        directory = self._dir(version)
        if not (directory / RECORD_FILE).is_file():
            raise RegistryError(f"no model {version!r} in {self.root}")
        return directory

    def get(self, version: str) -> ModelRecord:
        """The record of ``version``."""
        path = self.artifact_dir(version) / RECORD_FILE
        try:
            return ModelRecord.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise RegistryError(f"{path}: not JSON: {exc}") from exc

    def versions(self) -> list[ModelRecord]:
        """Every version, oldest first."""
        models = self.root / MODELS_DIR
        if not models.is_dir():
            return []
        found = [d.name for d in models.iterdir() if (d / RECORD_FILE).is_file()]
        return [self.get(v) for v in sorted(found)]

    def in_state(self, state: ModelStateName) -> list[ModelRecord]:
        """Versions now in ``state``, oldest first."""
        return [r for r in self.versions() if r.state == state]

    def active(self) -> ModelRecord | None:
        """The model serving everywhere, or None before the first promotion."""
        found = self.in_state("active")
        return found[-1] if found else None

    def next_version(self) -> str:
        """``v0001``, ``v0002``...: one more than the highest registered."""
        numbers = [int(r.version[1:]) for r in self.versions() if r.version[1:].isdigit()]
        return f"v{max(numbers, default=0) + 1:04d}"

    def register(
        self,
        artifact_dir: Path,
        *,
        parent: str | None,
        training_set: str | None = None,
        metrics: Mapping[str, float] | None = None,
        state: ModelStateName = "candidate",
        reason: str = "registered",
        decided_by: str = OPERATOR,
    ) -> ModelRecord:
        """Copy a verified artifact in as a new version, re-versioned, re-carded and signed.

        The artifact's card is rewritten with the registry's version (and extra ``metrics``)
        before signing, so the signature covers the version the edges will report. Raises
        :class:`RegistryError` without a signing key or for an artifact that does not verify.
        """
        key = self._require_key("registering a model")
        if parent is not None:
            self.get(parent)
        try:
            card = load_artifact(artifact_dir).card  # hash and label map checked
        except ArtifactError as exc:
            raise RegistryError(f"refusing {artifact_dir}: {exc}") from exc
        version = self.next_version()
        target = self._dir(version)
        staging = target.with_name(version + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        shutil.copyfile(artifact_dir / MODEL_FILE, staging / MODEL_FILE)
        card = replace(card, version=version, metrics={**card.metrics, **(metrics or {})})
        (staging / CARD_FILE).write_text(json.dumps(card.to_dict(), indent=2))
        signature = sign_artifact(staging, key)
        key_id = public_key_id(key.public_key())
        record = ModelRecord(
            version=version,
            parent=parent,
            state=state,
            sha256=card.weights_sha256,
            signing_key_id=key_id,
            signature=signature,
            data_fingerprint=card.data_fingerprint,
            metrics=dict(card.metrics),
            training_set=training_set,
            history=(StateChange(state, _now(), reason, decided_by),),
            created_at=_now(),
        )
        (staging / RECORD_FILE).write_text(json.dumps(record.to_dict(), indent=2))
        os.replace(staging, target)
        self._publish_key()
        return record

    def _require_key(self, action: str) -> Ed25519PrivateKey:
        if self._key is None:
            raise RegistryError(f"{action} needs the registry's signing key")
        return self._key

    def _publish_key(self) -> None:
        if self._key is None:
            return
        public = self._key.public_key()
        path = self.root / KEYS_DIR / f"{public_key_id(public)}.pem"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(public_key_pem(public))

    def card(self, version: str) -> ModelCard:
        """The model card of ``version``."""
        return ModelCard.from_dict(json.loads((self.artifact_dir(version) / CARD_FILE).read_text()))

    def _set_state(
        self,
        record: ModelRecord,
        state: ModelStateName,
        reason: str,
        decided_by: str,
        targets: tuple[RolloutTarget, ...] = (),
    ) -> ModelRecord:
        if state not in ALLOWED_TRANSITIONS[record.state]:
            raise RegistryError(
                f"{record.version} is {record.state}; it cannot become {state} "
                f"(allowed: {', '.join(sorted(ALLOWED_TRANSITIONS[record.state])) or 'none'})"
            )
        updated = replace(
            record,
            state=state,
            targets=targets,
            history=(*record.history, StateChange(state, _now(), reason, decided_by)),
        )
        path = self.artifact_dir(record.version) / RECORD_FILE
        _write_atomic(path, json.dumps(updated.to_dict(), indent=2))
        return updated

    def reject(self, version: str, *, reason: str, decided_by: str = OPERATOR) -> ModelRecord:
        """Mark ``version`` rejected (gate failed, refused at the edge, rolled back)."""
        return self._set_state(self.get(version), "rejected", reason, decided_by)

    def promote(
        self,
        version: str,
        *,
        mode: RolloutModeName,
        targets: Sequence[RolloutTarget] = (),
        reason: str = "promoted",
        decided_by: str = OPERATOR,
    ) -> ModelUpdate:
        """Move ``version`` to ``mode`` and announce it; an activation retires the old active.
        ``decided_by`` and ``reason`` travel in the announcement (the managers' view)."""
        self._require_key("announcing a rollout decision")
        record = self.get(version)
        previous = self.active()
        updated = self._set_state(record, mode, reason, decided_by, tuple(targets))
        if mode == "active" and previous is not None and previous.version != version:
            self._set_state(previous, "retired", f"replaced by {version}", decided_by)
        return self._announce_record(updated)

    def rollback(
        self, *, reason: str = "rolled back by an operator", decided_by: str = OPERATOR
    ) -> ModelUpdate:
        """Reject the active model and re-activate the one it replaced (its parent when that
        is retired, else the newest retired model); announces the re-activation."""
        self._require_key("announcing a rollout decision")
        current = self.active()
        if current is None:
            raise RegistryError("no active model to roll back")
        retired = {r.version: r for r in self.in_state("retired")}
        target = retired.get(current.parent or "") or (
            list(retired.values())[-1] if retired else None
        )
        if target is None:
            raise RegistryError(f"{current.version} has no retired predecessor to go back to")
        self._set_state(current, "rejected", reason, decided_by)
        restored = self._set_state(
            target, "active", f"rollback from {current.version}: {reason}", decided_by
        )
        return self._announce_record(restored)

    def announce_current(self) -> list[ModelUpdate]:
        """Announce every version in a rollout state again, active first, each as a new
        decision: edges that refused the old announcements (unsigned, or by a key they no
        longer trust) get decisions they accept, and the trials stay beside the active."""
        self._require_key("announcing a rollout decision")
        order: dict[str, int] = {"active": 0, "canary": 1, "shadow": 2}
        current = sorted(
            (r for r in self.versions() if r.state in _ROLLOUT_STATES), key=lambda r: order[r.state]
        )
        return [self._announce_record(record) for record in current]

    def update_event(self, record: ModelRecord) -> ModelUpdate:
        """A new decision announcing ``record`` in its current rollout state: numbered after
        the registry's last one and signed (needs the signing key)."""
        with self._next_decision() as sequence:
            return self._decision(record, sequence)

    def _decision(self, record: ModelRecord, sequence: int) -> ModelUpdate:
        if record.state not in _ROLLOUT_STATES:
            raise RegistryError(f"{record.version} is {record.state}: nothing to roll out")
        key = self._require_key("announcing a rollout decision")
        step = record.history[-1] if record.history else None
        unsigned = ModelUpdate(
            model_version=record.version,
            parent_version=record.parent,
            artifact_uri=self.artifact_dir(record.version).resolve().as_uri(),
            sha256=record.sha256,
            signature=record.signature,
            signing_key_id=record.signing_key_id,
            label_map=tuple(
                LabelMapEntry(class_id=cid, class_name=name) for cid, name in CLASS_NAMES.items()
            ),
            metrics=dict(record.metrics),
            rollout_mode=record.state,  # type: ignore[arg-type]  # checked just above
            targets=record.targets,
            decided_by=None if step is None else step.decided_by or None,
            reason=None if step is None else step.reason or None,
            sequence=sequence,
        )
        return replace(unsigned, decision_signature=key.sign(decision_message(unsigned)))

    @contextmanager
    def _next_decision(self) -> Iterator[int]:
        """The next decision number, held under an exclusive lock on the decisions file until
        the block ends; written and synced first, so a crash never hands a number out twice."""
        path = self.root / DECISIONS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            text = handle.read().strip()
            if text and not text.isdigit():
                raise RegistryError(f"{path} holds no decision number: {text[:40]!r}")
            number = int(text or 0) + 1
            handle.seek(0)
            handle.truncate()
            handle.write(f"{number}\n")
            handle.flush()
            os.fsync(handle.fileno())
            yield number

    def _announce_record(self, record: ModelRecord) -> ModelUpdate:
        with self._next_decision() as sequence:
            event = self._decision(record, sequence)
            if self._announce is not None:
                self._announce(event)
        return event
