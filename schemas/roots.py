"""Whether a URI an event names lies under one of the places a process may read from.

Events name files (claim-check images, frame store links, model artifacts); the places a
process may read are its settings, never the event. :class:`UriRoots` answers "is this URI
under one of my roots" the same way for every reader: a local path is compared after
resolving symbolic links (a link out of a root is outside), a remote one after refusing
``.`` and ``..`` segments, and a URI of another scheme than its root's never matches, so
``file:///etc/passwd`` or ``http://10.0.0.1/`` cannot pass for the frame store.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import fsspec

__all__ = ["LOCAL_PROTOCOLS", "UriRoots", "split_uri"]

#: fsspec protocols that are this machine's disk.
LOCAL_PROTOCOLS: Final[frozenset[str]] = frozenset({"file", "local"})


def split_uri(uri: str) -> tuple[str, str]:
    """``(protocol, path)`` of a URL or plain path, fsspec's way (``file`` for a path)."""
    protocol, path = fsspec.core.split_protocol(uri)
    return (protocol or "file"), path


@dataclass(frozen=True)
class _Root:
    """A root as URIs are compared against it: protocol and normalised path."""

    protocol: str
    path: str

    def holds(self, protocol: str, path: str) -> bool:
        return protocol == self.protocol and (
            path == self.path or path.startswith(self.path.rstrip("/") + "/")
        )


def _root(url: str) -> _Root:
    protocol, path = split_uri(url)
    if protocol in LOCAL_PROTOCOLS:
        return _Root("file", os.path.realpath(path))
    return _Root(protocol, posixpath.normpath("/" + path.lstrip("/")))


class UriRoots:
    """The roots (fsspec URLs or directories) a process may read under; none holds nothing.

    Local roots are resolved once, so a root given through a symbolic link holds the files
    it points to.
    """

    def __init__(self, roots: Sequence[str]) -> None:
        self.urls = tuple(roots)
        self._roots = tuple(_root(url) for url in roots)

    def holds(self, uri: str) -> bool:
        """Whether ``uri`` lies under one of the roots."""
        protocol, path = split_uri(uri)
        if protocol in LOCAL_PROTOCOLS:
            return self.holds_path("file", os.path.realpath(path))
        parts = path.split("/")
        if ".." in parts or "." in parts:
            return False
        return self.holds_path(protocol, posixpath.normpath("/" + path.lstrip("/")))

    def holds_path(self, protocol: str, path: str) -> bool:
        """Whether the already resolved ``path`` of ``protocol`` lies under a root."""
        return any(root.holds(protocol, path) for root in self._roots)
