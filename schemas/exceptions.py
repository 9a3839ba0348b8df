"""Errors of the event contract.

Everything the codec, the schema store and the compatibility check raise on purpose derives
from :class:`SchemaError`, so a stream worker can catch one class around ``decode`` and route
the message to the dead-letter topic, while programming errors still surface as bugs.
"""

from __future__ import annotations

from leakguard.errors import LeakguardError

__all__ = [
    "DecodeError",
    "EncodeError",
    "IncompatibleSchemaError",
    "SchemaError",
    "SchemaNotFoundError",
    "SchemaStoreError",
]


class SchemaError(LeakguardError):
    """Base class of every error raised by ``schemas``."""


class SchemaStoreError(SchemaError):
    """The ``.avsc`` files in the repository are missing, malformed or contradict each other.

    Raised at start-up while loading the store, never while decoding a message.
    """


class SchemaNotFoundError(SchemaError):
    """No schema is known under the requested name or fingerprint."""


class EncodeError(SchemaError):
    """An event cannot be written: a field does not fit its schema or a size limit is exceeded.

    The producer's bug or its input's; nothing has been sent.
    """


class DecodeError(SchemaError):
    """A message cannot be read as the expected event.

    The message is malformed, truncated, too large, written with a schema the store does not
    know, of another event type, or violates an invariant of the contract. ``reason`` is a
    readable sentence fit for the dead-letter event.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IncompatibleSchemaError(SchemaError):
    """A schema cannot read data written with an older released version of itself."""


class ImageRejectedError(SchemaError):
    """An image an event names is missing, too large, corrupt or not the image its SHA-256
    names: the event is bad input and goes to the dead-letter topic."""


class RollbackBoundsError(SchemaError):
    """Rollback bounds that no edge could enforce (a window smaller than its minimum, or a
    negative rate bound)."""
