"""Session cookies, the CSRF tokens of sessions, and the sign-in form's token.

A session cookie holds only a random session id, signed with HMAC (``itsdangerous``) and
time-stamped: the session itself (guard, lane, CSRF token) lives server-side
(:mod:`streams.console.session_store`), so signing out or changing a password can end it.
A cookie older than ``ttl_s`` (a guard's shift by default) or altered by one bit is refused
before the store is asked. Each session carries a random CSRF token; every state-changing
request must echo it in the ``X-CSRF-Token`` header (scripts) or a ``csrf_token`` form
field (forms), which a page of another site cannot read. Sign-in, before any session
exists, is protected the same way with a short-lived signed pre-session token.

The signing key lives in a 0600 file under the data dir so sessions survive a restart.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from streams.console.exceptions import ConsoleError

__all__ = [
    "DEFAULT_SESSION_TTL_S",
    "LOGIN_TOKEN_TTL_S",
    "Session",
    "SessionSigner",
    "load_or_create_secret",
    "new_token",
    "tokens_match",
]

#: A session lasts one guard shift: the guard signs in again at the next shift.
DEFAULT_SESSION_TTL_S: Final = 8 * 3600.0
#: A sign-in form must be sent within an hour of being shown.
LOGIN_TOKEN_TTL_S: Final = 3600.0
#: 256-bit signing key and 128-bit CSRF tokens: beyond guessing.
_SECRET_BYTES: Final = 32
_CSRF_BYTES: Final = 16


@dataclass(frozen=True, slots=True)
class Session:
    """Who is signed in, at which lane, and the CSRF token of this session."""

    guard: str
    lane: str
    csrf: str


def new_token() -> str:
    """A random 128-bit token (URL-safe): session ids and CSRF tokens."""
    return secrets.token_urlsafe(_CSRF_BYTES)


def tokens_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token (``None`` never matches)."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def load_or_create_secret(path: Path) -> bytes:
    """The signing key in ``path``, created (mode 0600) on first use.

    The key is written to a temporary file and linked into place, so two consoles starting
    together agree on one key and neither reads a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".session-key-")
        try:
            with os.fdopen(handle, "wb") as out:  # mkstemp creates it with mode 0600
                out.write(secrets.token_bytes(_SECRET_BYTES))
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        finally:
            os.unlink(temp)
    key = path.read_bytes()
    if len(key) < _SECRET_BYTES:
        raise ConsoleError(f"session key {path} is shorter than {_SECRET_BYTES} bytes")
    return key


class SessionSigner:
    """Signs and checks session ids and sign-in tokens of one ``checkpoint``'s console.

    The checkpoint is part of every signature, so a cookie of one checkpoint's console is
    refused by another's even where they share the data dir and so the key. ``clock``
    (seconds since the epoch) is injectable so expiry can be tested without waiting.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        checkpoint: str,
        ttl_s: float = DEFAULT_SESSION_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_s <= 0:
            raise ConsoleError(f"session ttl must be positive, got {ttl_s}")
        self.ttl_s = ttl_s
        self.checkpoint = checkpoint

        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        scope = json.dumps(checkpoint)  # quoted: no checkpoint name can extend another's salt
        self._sessions = URLSafeTimedSerializer(
            secret, salt=f"leakguard-session:{scope}", signer=_Signer
        )
        self._logins = URLSafeTimedSerializer(
            secret, salt=f"leakguard-login:{scope}", signer=_Signer
        )

    def sign(self, session_id: str) -> str:
        """The cookie value carrying ``session_id``."""
        return self._sessions.dumps(session_id)

    def unsign(self, cookie: str | None) -> str | None:
        """The session id of ``cookie``; ``None`` when absent, tampered with or expired."""
        session_id = self._load(self._sessions, cookie, self.ttl_s)
        return session_id if isinstance(session_id, str) else None

    def login_token(self) -> tuple[str, str]:
        """``(cookie, form token)`` protecting one sign-in form against CSRF."""
        token = new_token()
        return self._logins.dumps(token), token

    def check_login_token(self, cookie: str | None, form_token: str | None) -> bool:
        """Whether the sign-in form echoes the token of its (unexpired) pre-session cookie."""
        token = self._load(self._logins, cookie, LOGIN_TOKEN_TTL_S)
        return isinstance(token, str) and tokens_match(token, form_token)

    def _load(self, serializer: URLSafeTimedSerializer, value: str | None, ttl_s: float) -> Any:
        if not value:
            return None
        try:
            # The signer's timestamps come from ``clock``, so max_age is checked against it.
            return serializer.loads(value, max_age=math.ceil(ttl_s))
        except BadSignature:  # SignatureExpired is a BadSignature
            return None
