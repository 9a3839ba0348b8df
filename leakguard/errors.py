"""The root of leakguard's error hierarchy.

Every package defines its own errors in its ``exceptions.py``, all derived from
:class:`LeakguardError`, so a caller can catch "anything leakguard raised on purpose" in one
clause while programming errors (``TypeError``, ``KeyError``...) still surface as bugs.
"""


class LeakguardError(Exception):
    """Base class of every error leakguard raises deliberately."""
