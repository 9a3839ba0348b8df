"""Errors of the retrain package; all derive from :class:`RetrainError`.

The CLI shows them as one red line; the retrain consumer dead-letters an annotation whose
processing raised one of them and goes on (ARCHITECTURE, "Guarantees").
"""

from __future__ import annotations

from leakguard.errors import LeakguardError

__all__ = [
    "GateError",
    "RegistryError",
    "RetrainConfigError",
    "RetrainError",
    "SigningKeyError",
    "TrainingJobError",
    "TrainingSetError",
]


class RetrainError(LeakguardError):
    """Base class of every error the retrain package raises deliberately."""


class RetrainConfigError(RetrainError):
    """An invalid option or option combination; raised at start-up."""


class RegistryError(RetrainError):
    """The model registry has no such version, or a state change is not allowed."""


class SigningKeyError(RetrainError):
    """The registry's Ed25519 signing key is missing, unreadable or not Ed25519."""


class TrainingSetError(RetrainError):
    """An annotation cannot join the training set (image missing, box malformed...)."""


class TrainingJobError(RetrainError):
    """A training job failed or produced no artifact."""


class GateError(RetrainError):
    """The gate cannot compare a candidate with its parent (missing hold-out metrics)."""
