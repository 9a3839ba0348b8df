"""Errors of the DICOS bridge and report writer."""

from __future__ import annotations

from streams.exceptions import SourceError


class DicosError(SourceError):
    """A file is not a DICOS object this bridge reads, or a report could not be written;
    the message says which attribute or limit failed."""
