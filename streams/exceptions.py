"""Errors raised by the streams package; all derive from :class:`StreamsError`.

Agents catch these per message and dead-letter the message with the error's text, so a
worker never stops on bad input (ARCHITECTURE, "Guarantees").
"""

from __future__ import annotations

from leakguard.errors import LeakguardError


class StreamsError(LeakguardError):
    """Base class of every error the streams package raises deliberately."""


class StreamsConfigError(StreamsError):
    """An invalid option or option combination; raised at start-up, never mid-run."""


class FrameStoreError(StreamsError):
    """The frame store could not write, read or verify an image."""


class SourceError(StreamsError):
    """A scanner source (folder bridge, simulator) could not read or publish a frame."""


class ModelRefusedError(StreamsError):
    """A model a ``ModelUpdate`` announced failed a check (untrusted key, bad hash or
    signature, not an artifact); the edge keeps serving its current model."""


class DecisionRefusedError(StreamsError):
    """A ``ModelUpdate`` is no decision of a trusted registry (unsigned, signed by an
    untrusted key, altered) or replays an older one; it is dead-lettered, never applied."""
