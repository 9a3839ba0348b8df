"""The embedded analytics store: ``chdb`` (the ClickHouse engine in-process) under the data dir.

With no ClickHouse URL configured, analytics tables live in a chdb session whose files sit
in ``<data dir>/chdb``, so the demo needs no server. chdb reads a ``config.xml`` from the
current working directory when one is there, which would make it adopt a server's settings
(ports, paths, users); opening a session there is refused instead of silently misbehaving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sinks.exceptions import ChdbDirectoryError


def open_chdb_session(path: Path) -> Any:
    """A ``chdb.session.Session`` storing its tables under ``path`` (created if missing).

    Raises :class:`ChdbDirectoryError` when the working directory holds a ``config.xml``.
    """
    if Path("config.xml").exists():
        raise ChdbDirectoryError(
            f"refusing to open chdb in {Path.cwd()}: it holds a config.xml that chdb would "
            "read; run leakguard from another directory"
        )
    from chdb import session

    path.mkdir(parents=True, exist_ok=True)
    return session.Session(str(path))
