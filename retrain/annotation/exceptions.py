"""Errors of the annotation bridge.

Everything raised on purpose derives from :class:`AnnotationError`, a
:class:`~leakguard.errors.LeakguardError`, so the CLI shows one readable line. The split
matters to the bridge: :class:`LabelStudioUnavailableError` is transient (wait, back off,
retry, commit nothing), :class:`ImageUnavailableError` is bad input (dead-letter the task),
:class:`LabelStudioError` means Label Studio refused a request (fix the configuration).
"""

from __future__ import annotations

from leakguard.errors import LeakguardError

__all__ = [
    "AnnotationError",
    "BridgeConfigurationError",
    "LabelStudioAuthError",
    "LabelStudioError",
    "LabelStudioUnavailableError",
    "UnusableAnnotationError",
    "WebhookSecretError",
]


class AnnotationError(LeakguardError):
    """Base class of every error raised by ``retrain.annotation``."""


class LabelStudioError(AnnotationError):
    """Label Studio answered but refused the request (bad token, bad config, unknown id)."""


class BridgeConfigurationError(AnnotationError):
    """The bridge's settings cannot work together (e.g. no Label Studio and not every
    checkpoint auto-labelled); raised at start-up, naming the variable to set."""


class WebhookSecretError(BridgeConfigurationError):
    """The bridge has no usable shared secret (none created, too short, readable by others);
    it does not start without one, since the receiver would be open to anyone."""


class LabelStudioAuthError(LabelStudioError):
    """Label Studio refused the API token: every call would fail, so the bridge stops
    rather than dead-letter good tasks."""


class LabelStudioUnavailableError(LabelStudioError):
    """Label Studio cannot be reached right now (down, restarting, 5xx, timeout).

    Transient: the bridge keeps the task, backs off and retries; nothing is committed.
    """


class UnusableAnnotationError(AnnotationError):
    """A Label Studio annotation cannot become an ``Annotation`` event (unknown label,
    region without a class, task not created by leakguard)."""
