"""Which rollout decisions an edge applies: signed by a trusted registry key, and newer
than every decision it applied before.

``model.updates`` is open to whoever may produce to it, and the edge replays all of it at
start, so a decision's authority cannot come from being on the topic. The registry signs
each decision and numbers it (:mod:`schemas.decisions`); :class:`DecisionChecker` refuses
an update that is unsigned, signed by a key the edge does not trust, altered after signing,
or numbered at or below the last decision it accepted. The last number is rebuilt from the
replayed history at every start (the topic is kept forever and read from its beginning), so
a replayed old decision is refused after a restart too; a forged update is refused before
its version is remembered anywhere, so it cannot block the genuine decision of the same
version.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from schemas.decisions import decision_message
from schemas.events import ModelUpdate
from streams.exceptions import DecisionRefusedError

__all__ = ["DecisionChecker"]


class DecisionChecker:
    """Accepts the genuine, newer decisions of one edge's ``model.updates`` stream, in order."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)
        self.last_sequence = 0

    def accept(self, update: ModelUpdate) -> None:
        """Record ``update`` as the newest decision, or raise :class:`DecisionRefusedError`
        saying why it must not be applied."""
        what = f"decision for {update.model_version[:100]!r}"
        if update.sequence is None or update.decision_signature is None:
            raise DecisionRefusedError(f"{what} is unsigned (a registry before release v5?)")
        key = self._keys.get(update.signing_key_id)
        if key is None:
            raise DecisionRefusedError(
                f"{what} is signed by key {update.signing_key_id[:40]!r}, not trusted here"
            )
        try:
            key.verify(update.decision_signature, decision_message(update))
        except InvalidSignature:
            raise DecisionRefusedError(f"{what}: the signature does not match") from None
        if update.sequence <= self.last_sequence:
            raise DecisionRefusedError(
                f"{what} is number {update.sequence}, not after decision {self.last_sequence}"
                " already applied: a replay"
            )
        self.last_sequence = update.sequence
