"""Guard accounts: one JSON file of names and argon2id password hashes.

Each guard signs in with their own account so every verdict names the person who gave it.
Passwords are stored only as argon2id hashes (``argon2-cffi``, the OWASP recommendation);
the file is written atomically with mode 0600 and read again on every sign-in and every
request of a session, so ``leakguard console add-guard`` and ``remove-guard`` take effect on
a running console without a restart: a session lasts only while its guard's
:meth:`GuardStore.credential` is the one it was started with.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from streams.console.exceptions import AccountError

__all__ = [
    "MIN_PASSWORD_CHARS",
    "GuardAccount",
    "GuardStore",
    "default_guards_path",
    "ensure_guard",
]

#: Guard ids travel in every verdict and outcome: short, lower-case, no spaces.
_GUARD_NAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
#: Shorter passwords fall to a guessing attack on the sign-in form within hours.
MIN_PASSWORD_CHARS: Final = 8
#: File format version, so a later change of the layout can be recognised.
_FORMAT: Final = 1


def default_guards_path(data_dir: Path) -> Path:
    """Where the console keeps its accounts under the data dir."""
    return data_dir / "console" / "guards.json"


@dataclass(frozen=True, slots=True)
class GuardAccount:
    """One guard: the id stamped on verdicts and the argon2id hash of the password."""

    name: str
    password_hash: str
    updated_at: float


class GuardStore:
    """The accounts file at ``path``; ``hasher`` is injectable (tests use cheap parameters)."""

    def __init__(self, path: Path, *, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self._hasher = hasher if hasher is not None else PasswordHasher()
        # Verifying against this hash when the name is unknown makes a failed sign-in take
        # as long for a missing guard as for a wrong password (no name enumeration by timing).
        self._decoy = self._hasher.hash("decoy password, never matches")

    def accounts(self) -> dict[str, GuardAccount]:
        """Every account in the file (none when it does not exist yet)."""
        try:
            payload = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise AccountError(f"cannot read guard accounts {self.path}: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise AccountError(f"{self.path} is not a leakguard guard accounts file")
        return {
            name: GuardAccount(name, entry["password_hash"], float(entry["updated_at"]))
            for name, entry in payload.get("guards", {}).items()
        }

    def set_password(self, name: str, password: str) -> GuardAccount:
        """Create the account ``name`` or give it a new password."""
        if not _GUARD_NAME.fullmatch(name):
            raise AccountError(
                f"guard name {name!r} must be 1-64 of a-z, 0-9, '.', '_', '-', "
                "starting with a letter or digit"
            )
        if len(password) < MIN_PASSWORD_CHARS:
            raise AccountError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
        account = GuardAccount(name, self._hasher.hash(password), time.time())
        accounts = self.accounts()
        accounts[name] = account
        self._write(accounts)
        return account

    def remove(self, name: str) -> bool:
        """Delete the account ``name`` (its sessions end with it); whether it existed."""
        accounts = self.accounts()
        if accounts.pop(name, None) is None:
            return False
        self._write(accounts)
        return True

    def credential(self, name: str) -> str | None:
        """A fingerprint of ``name``'s current password hash; ``None`` without an account.

        Sessions remember it, so a new password (a new salt, so a new hash) or a removed
        account ends them; a SHA-256 of the hash, so the session store holds nothing to
        crack.
        """
        account = self.accounts().get(name)
        if account is None:
            return None
        return hashlib.sha256(account.password_hash.encode()).hexdigest()

    def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s; upgrades the stored hash when parameters grew."""
        account = self.accounts().get(name)
        try:
            self._hasher.verify(account.password_hash if account else self._decoy, password)
        except (VerificationError, InvalidHashError):
            return False
        if account is None:
            return False
        if self._hasher.check_needs_rehash(account.password_hash):
            self.set_password(name, password)
        return True

    def _write(self, accounts: dict[str, GuardAccount]) -> None:
        """Replace the file atomically, readable by its owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": _FORMAT,
            "guards": {
                a.name: {"password_hash": a.password_hash, "updated_at": a.updated_at}
                for a in sorted(accounts.values(), key=lambda a: a.name)
            },
        }
        handle, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".guards-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(payload, out, indent=2)
            os.chmod(temp, 0o600)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def ensure_guard(path: Path, name: str, password: str) -> GuardAccount:
    """Make ``name`` sign in with ``password`` (created or updated); for the demo's guards."""
    store = GuardStore(path)
    existing = store.accounts().get(name)
    if existing is not None and store.verify(name, password):
        return store.accounts()[name]
    return store.set_password(name, password)
