"""The bridge's shared secret: what Label Studio's webhook must carry, and the key of image URLs.

``leakguard annotate setup`` creates it (a random token in a file of mode 0600 under the data
dir) and registers it on the webhook; the receiver refuses every webhook without it and every
image request without a URL signed with a key derived from it. There is no open mode: a
bridge without a secret does not start. An operator may bring their own
(``LEAKGUARD_ANNOTATION__WEBHOOK_SECRET``), held to the same minimum length.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from pathlib import Path
from typing import Final

from retrain.annotation.exceptions import WebhookSecretError

__all__ = [
    "MIN_SECRET_CHARS",
    "check_secret",
    "create_secret_file",
    "read_secret_file",
]

#: Shortest secret accepted: 128 bits of hex, too many to guess over a network.
MIN_SECRET_CHARS: Final = 32
#: Random bytes of a created secret (64 hex characters).
_SECRET_BYTES: Final = 32
#: Permission bits other users must not have on the secret file.
_OTHERS_BITS: Final = stat.S_IRWXG | stat.S_IRWXO


def check_secret(secret: str, *, source: str) -> str:
    """``secret`` when it is long enough; ``source`` names where it came from in the error."""
    if len(secret.strip()) < MIN_SECRET_CHARS:
        raise WebhookSecretError(
            f"the webhook secret from {source} is shorter than {MIN_SECRET_CHARS} characters; "
            "use e.g. `openssl rand -hex 32`"
        )
    return secret.strip()


def read_secret_file(path: Path) -> str:
    """The secret stored at ``path``.

    A missing file is an error that says how to create one; a file other users may read is
    refused, since anyone who reads it can post annotations and fetch frames.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise WebhookSecretError(
            f"no webhook secret at {path}: run `leakguard annotate setup` to create it and "
            "register it with Label Studio (or set LEAKGUARD_ANNOTATION__WEBHOOK_SECRET)"
        ) from exc
    if mode & _OTHERS_BITS:
        raise WebhookSecretError(
            f"the webhook secret {path} is accessible to other users (mode "
            f"{stat.S_IMODE(mode):o}); run `chmod 600 {path}`"
        )
    return check_secret(path.read_text(encoding="ascii"), source=str(path))


def create_secret_file(path: Path) -> str:
    """The secret at ``path``, created (random, mode 0600) when there is none.

    Written to a temporary file and linked into place, so two ``setup`` runs at once agree on
    one secret and a reader never sees half a file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".webhook-secret-")
        try:
            with os.fdopen(handle, "w", encoding="ascii") as out:  # mkstemp: mode 0600
                out.write(secrets.token_hex(_SECRET_BYTES))
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        finally:
            os.unlink(temp)
    return read_secret_file(path)
