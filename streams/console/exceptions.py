"""Errors of the guard console; all derive from :class:`ConsoleError` (a ``StreamsError``)."""

from __future__ import annotations

from streams.exceptions import StreamsError


class ConsoleError(StreamsError):
    """Base class of every error the console raises deliberately."""


class AccountError(ConsoleError):
    """A guard account cannot be created or read (bad name, short password, bad file)."""


class VerdictError(ConsoleError):
    """A guard's answer does not fit its frame (unknown object, box outside the image...)."""


class FrameNotFoundError(ConsoleError):
    """The frame asked for is not (or no longer) in the review queue."""


class PublishError(ConsoleError):
    """A verdict was not acknowledged by Kafka in time; the guard must retry."""


class SignInThrottledError(ConsoleError):
    """Too many failed sign-ins from this address (for this name); retry after a while."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s
