"""Server-side sessions: signing out, a new password or a removed account ends them.

A signed cookie alone cannot be taken back: whoever copied it stays signed in until it
expires. So the cookie carries only a random session id (signed, :class:`SessionSigner`)
and each request looks the session up here. Sign-out deletes the row; every lookup also
compares the guard's current credential (a fingerprint of the password hash,
:meth:`GuardStore.credential`) with the one the session started under, so
``leakguard console add-guard NAME --password NEW`` or ``remove-guard NAME`` ends every
session of that guard, on every running console, at its next request.

The table is SQLite in the console's state dir, shared by the consoles of one data dir
(WAL, each process with its own connection); rows name their checkpoint, so a session is
valid only on the console of the checkpoint it was started at. Rows are keyed by the
SHA-256 of the session id: the file alone signs no one in.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from streams.console.exceptions import AccountError
from streams.console.sessions import Session, SessionSigner, new_token

__all__ = ["CredentialLookup", "SessionStore"]

#: Guard name -> fingerprint of the current password hash, ``None`` without an account.
CredentialLookup = Callable[[str], str | None]

#: Another console of the data dir may be writing: wait this long for its lock.
BUSY_TIMEOUT_S: Final = 10.0

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    checkpoint TEXT NOT NULL,
    guard TEXT NOT NULL,
    lane TEXT NOT NULL,
    csrf TEXT NOT NULL,
    credential TEXT NOT NULL,
    expires_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_guard ON sessions (guard);
"""


class SessionStore:
    """The sessions of ``signer``'s checkpoint in the SQLite file ``path``.

    ``credentials`` is read on every lookup (the accounts file, re-read each time, so a
    change made by another process counts at once); ``clock`` (seconds since the epoch)
    is injectable so expiry can be tested without waiting.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        signer: SessionSigner,
        credentials: CredentialLookup,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created 0600 before SQLite opens it; its WAL files take the same mode.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._signer = signer
        self._credentials = credentials
        self._clock = clock
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    @property
    def ttl_s(self) -> float:
        """How long a session lasts from sign-in."""
        return self._signer.ttl_s

    def start(self, *, guard: str, lane: str) -> tuple[str, Session]:
        """A new session of ``guard`` at ``lane`` (fresh id and CSRF token) and its cookie.

        :class:`AccountError` for a guard without an account: the caller has just checked
        the password, so the account was removed in between.
        """
        credential = self._credentials(guard)
        if credential is None:
            raise AccountError(f"guard {guard!r} has no account")
        session_id, session = new_token(), Session(guard=guard, lane=lane, csrf=new_token())
        now = self._clock()
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE expires_s <= ?", (now,))
            db.execute(
                "INSERT INTO sessions (id_hash, checkpoint, guard, lane, csrf, credential, "
                "expires_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    _id_hash(session_id),
                    self._signer.checkpoint,
                    guard,
                    lane,
                    session.csrf,
                    credential,
                    now + self._signer.ttl_s,
                ),
            )
        return self._signer.sign(session_id), session

    def read(self, cookie: str | None) -> Session | None:
        """The live session of ``cookie``; ``None`` when the cookie is absent, forged or
        expired, or its session was ended, belongs to another checkpoint, or its guard's
        password changed or account is gone (the row is then deleted)."""
        session_id = self._signer.unsign(cookie)
        if session_id is None:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT guard, lane, csrf, credential, expires_s FROM sessions "
                "WHERE id_hash = ? AND checkpoint = ?",
                (_id_hash(session_id), self._signer.checkpoint),
            ).fetchone()
        if row is None:
            return None
        guard, lane, csrf, credential, expires_s = row
        if expires_s <= self._clock() or self._credentials(guard) != credential:
            self._delete(session_id)
            return None
        return Session(guard=guard, lane=lane, csrf=csrf)

    def end(self, cookie: str | None) -> None:
        """End the session of ``cookie`` (sign-out); copies of the cookie stop working."""
        session_id = self._signer.unsign(cookie)
        if session_id is not None:
            self._delete(session_id)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _delete(self, session_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE id_hash = ?", (_id_hash(session_id),))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


def _id_hash(session_id: str) -> str:
    """The row key of a session id: reading the file gives no cookie."""
    return hashlib.sha256(session_id.encode()).hexdigest()
