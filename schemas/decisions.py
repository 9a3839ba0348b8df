"""The canonical form of a rollout decision: the bytes the registry signs and edges verify.

A ``ModelUpdate`` is a decision ("serve version X in mode M at targets T"), and whoever can
produce to ``model.updates`` could otherwise make one: replay an old activation to downgrade
every edge, or announce a version that was never decided. The registry therefore signs each
decision (``decision_signature``) with the key that signs its artifacts, and numbers it
(``sequence``, strictly increasing), so an edge can refuse forged decisions and replays.

The form is part of the event contract, not of either side: JSON with sorted keys and no
spaces over every field except ``event_id`` and ``event_time`` (a re-sent decision is the
same decision) and the signature itself, prefixed by a domain tag so the bytes cannot be
mistaken for any other message the same key signs (the registry's key also signs artifact
cards). The tag names the form's version: a change of the form is a new tag.
"""

from __future__ import annotations

import json
from typing import Final

from schemas.events import ModelUpdate

__all__ = ["DECISION_DOMAIN", "decision_message"]

#: Prefix of every signed decision; a new canonical form gets a new tag.
DECISION_DOMAIN: Final[bytes] = b"leakguard.model-decision.v1\n"


def decision_message(update: ModelUpdate) -> bytes:
    """The bytes ``update.decision_signature`` signs."""
    fields = {
        "sequence": update.sequence,
        "model_version": update.model_version,
        "parent_version": update.parent_version,
        "artifact_uri": update.artifact_uri,
        "sha256": update.sha256,
        "signature": update.signature.hex(),
        "signing_key_id": update.signing_key_id,
        "label_map": [[e.class_id, e.class_name] for e in update.label_map],
        "metrics": dict(update.metrics),
        "rollout_mode": update.rollout_mode,
        "targets": [[t.checkpoint, t.lane] for t in update.targets],
        "decided_by": update.decided_by,
        "reason": update.reason,
    }
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return DECISION_DOMAIN + body.encode()
