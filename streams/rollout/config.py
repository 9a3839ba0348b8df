"""The edge model manager's options, importable without torch (the CLI builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.rollback import RollbackBounds
from schemas.topics import Topics
from streams.exceptions import StreamsConfigError

__all__ = ["RolloutConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutConfig:
    """The model manager's options, each with its default.

    - ``trusted_key_paths``: PEM public keys whose signatures this edge accepts (required).
    - ``cache_dir``: where verified artifacts are copied (``.leakguard/model-cache``).
    - ``artifact_roots``: where rolled-out artifacts may be fetched from (fsspec URLs or
      directories, e.g. the registry's); empty: wherever a signed decision names.
    - ``checkpoint``: the checkpoint this worker serves (None: every one it gets frames of).
    - ``topics``: the catalogue it reads ``model.updates`` and ``outcomes`` from and writes
      ``model.status`` and dead letters to.
    - ``bounds``: when a new model is rolled back (:class:`RollbackBounds`).
    - ``status_interval_s``: how often a running trial's agreement is reported (30 s).
    - ``outcome_lookback_s``: outcomes read back at start, to know the current model's
      rates before a new one arrives (3600 s).
    """

    trusted_key_paths: tuple[str, ...]
    cache_dir: str = ".leakguard/model-cache"
    artifact_roots: tuple[str, ...] = ()
    checkpoint: str | None = None
    topics: Topics = field(default_factory=Topics)
    bounds: RollbackBounds = field(default_factory=RollbackBounds)
    status_interval_s: float = 30.0
    outcome_lookback_s: float = 3600.0

    def __post_init__(self) -> None:
        if not self.trusted_key_paths:
            raise StreamsConfigError("the model manager needs at least one trusted public key")
        if self.status_interval_s <= 0 or self.outcome_lookback_s < 0:
            raise StreamsConfigError("status_interval_s must be > 0, outcome_lookback_s >= 0")
