"""The edge model manager's options, importable without torch (the CLI builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from schemas.rollback import RollbackBounds
from streams.exceptions import StreamsConfigError

__all__ = ["RolloutConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutConfig:
    """The model manager's options, each with its default.

    - ``trusted_key_paths``: PEM public keys whose signatures this edge accepts (required).
    - ``cache_dir``: where verified artifacts are copied (``.leakguard/model-cache``).
    - ``checkpoint``: the checkpoint this worker serves (None: every one it gets frames of).
    - ``updates_topic`` / ``status_topic`` / ``outcomes_topic`` / ``dead_letter_topic``.
    - ``bounds``: when a new model is rolled back (:class:`RollbackBounds`).
    - ``status_interval_s``: how often a running trial's agreement is reported (30 s).
    - ``outcome_lookback_s``: outcomes read back at start, to know the current model's
      rates before a new one arrives (3600 s).
    """

    trusted_key_paths: tuple[str, ...]
    cache_dir: str = ".leakguard/model-cache"
    checkpoint: str | None = None
    updates_topic: str = "model.updates"
    status_topic: str = "model.status"
    outcomes_topic: str = "outcomes"
    dead_letter_topic: str = "deadletter"
    bounds: RollbackBounds = field(default_factory=RollbackBounds)
    status_interval_s: float = 30.0
    outcome_lookback_s: float = 3600.0

    def __post_init__(self) -> None:
        if not self.trusted_key_paths:
            raise StreamsConfigError("the model manager needs at least one trusted public key")
        if self.status_interval_s <= 0 or self.outcome_lookback_s < 0:
            raise StreamsConfigError("status_interval_s must be > 0, outcome_lookback_s >= 0")

    def prefixed(self, prefix: str) -> RolloutConfig:
        """The same options with every topic name prefixed (tests share one broker)."""
        return replace(
            self,
            updates_topic=prefix + self.updates_topic,
            status_topic=prefix + self.status_topic,
            outcomes_topic=prefix + self.outcomes_topic,
            dead_letter_topic=prefix + self.dead_letter_topic,
        )
