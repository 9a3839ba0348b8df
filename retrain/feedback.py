"""Edge rollbacks fed back into the registry.

An edge that rolls a model back by itself says so on ``model.status`` (state ``rejected``,
``rolled_back`` true, ``error`` the reason) and remembers it across restarts
(:mod:`streams.rollout.memory`). The other edges would go on trying that model, and the
registry would go on calling it active; so the retrain consumer reads ``model.status`` too
and applies the verdict fleet-wide:

* a rolled-back **active** model is rolled back in the registry (rejected; the model it
  replaced is active again, and that re-activation is announced on ``model.updates``, so
  every edge follows it);
* a rolled-back **shadow or canary** model is rejected (no edge will be told to run it
  again; the edges already running it as a trial keep their own rollback);
* anything else is left alone: a version already rejected (the same report from a second
  edge, or a replay of the topic), retired, unknown to this registry, or a status that is
  not a rollback. Applying a report twice therefore changes nothing.
"""

from __future__ import annotations

import logging

from retrain.exceptions import RegistryError
from retrain.registry import Registry
from schemas.events import ModelStatus, ModelUpdate

__all__ = ["apply_edge_rollback", "is_rollback"]

logger = logging.getLogger(__name__)


def is_rollback(status: ModelStatus) -> bool:
    """Whether ``status`` reports an edge's own rollback (not a refusal or a state)."""
    return status.state == "rejected" and status.rolled_back


def apply_edge_rollback(registry: Registry, status: ModelStatus) -> ModelUpdate | None:
    """Apply one edge report to ``registry``; returns the announced re-activation, if any."""
    if not is_rollback(status):
        return None
    version = status.model_version
    try:
        record = registry.get(version)
    except RegistryError:
        logger.warning(
            "edge %s rolled back %s, which this registry does not hold", status.worker_id, version
        )
        return None
    reason = f"edge {status.worker_id} at {status.checkpoint}: {status.error}"
    edge = f"edge:{status.worker_id}"
    if record.state == "active":
        logger.warning("rolling back %s in the registry: %s", version, reason)
        return registry.rollback(reason=reason, decided_by=edge)
    if record.state in ("shadow", "canary", "candidate"):
        logger.warning("rejecting %s in the registry: %s", version, reason)
        registry.reject(version, reason=reason, decided_by=edge)
    return None
