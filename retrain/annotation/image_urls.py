"""Signed, expiring URLs of the frame images the bridge serves to Label Studio.

Annotators' browsers load a task's image straight from the URL in the task's data (an
``<img>``: no header of ours can ride along), so the credential is in the URL: an HMAC of the
task id and an expiry time, under a key derived from the bridge's shared secret. Task ids are
derived from checkpoint, lane and frame (``streams/logic/annotation.py``), so without the
signature anyone who can guess a frame id could fetch the frame.

A URL is fixed in Label Studio when the task is created, so the bridge re-signs the URLs of
tasks whose signature nears its end (:func:`refresh_image_urls`); that is also how tasks
created before images were signed, or under a rotated secret (all URLs are due when the key
changes), get a working URL.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Final
from urllib.parse import quote, urlencode

from retrain.annotation.client import LabelStudioClient
from retrain.annotation.exceptions import (
    BridgeConfigurationError,
    LabelStudioAuthError,
    LabelStudioError,
    LabelStudioUnavailableError,
)
from retrain.annotation.label_config import IMAGE_NAME
from retrain.annotation.state import BridgeState

__all__ = [
    "DEFAULT_IMAGE_URL_TTL_S",
    "EXPIRES_PARAM",
    "TOKEN_PARAM",
    "ImageUrlSigner",
    "refresh_image_urls",
]

logger = logging.getLogger(__name__)

#: How long a signed image URL works: long enough that a task waiting in the queue over a
#: holiday still shows its image, short enough that a URL copied out of Label Studio dies.
DEFAULT_IMAGE_URL_TTL_S: Final = 14 * 24 * 3600.0
#: A URL is re-signed when it has less than this left: the bridge may be down for days.
REFRESH_MARGIN_FRACTION: Final = 0.5
#: Query parameters of a signed URL.
EXPIRES_PARAM: Final = "expires"
TOKEN_PARAM: Final = "token"
#: Separates the key's purpose from the secret: the webhook secret itself signs nothing.
_KEY_PURPOSE: Final = b"leakguard annotation image urls v1"
#: The state's note of which key signed the URLs in Label Studio (a fingerprint, not the key).
_KEY_ID_STATE: Final = "image_url_key_id"


class ImageUrlSigner:
    """Signs and checks image URLs with a key derived from ``secret``.

    ``clock`` (seconds since the epoch) is injectable so expiry is tested without waiting.
    """

    def __init__(
        self,
        secret: str,
        *,
        ttl_s: float = DEFAULT_IMAGE_URL_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise BridgeConfigurationError("image URLs need the bridge's webhook secret")
        if ttl_s <= 0:
            raise BridgeConfigurationError(f"image URL lifetime must be positive, got {ttl_s}")
        self._key = hmac.new(secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest()
        #: Names the key without revealing it: a hash of the key, not of the secret.
        self.key_id = hashlib.sha256(self._key).hexdigest()[:16]
        self.ttl_s = ttl_s
        self._clock = clock

    def _token(self, task_id: str, expires: int) -> str:
        message = f"{task_id}\x1f{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def url(self, bridge_url: str, task_id: str) -> tuple[str, int]:
        """The signed URL of ``task_id``'s image under ``bridge_url``, and when it expires
        (seconds since the epoch)."""
        expires = int(self._clock() + self.ttl_s)
        query = urlencode({EXPIRES_PARAM: expires, TOKEN_PARAM: self._token(task_id, expires)})
        return f"{bridge_url.rstrip('/')}/images/{quote(task_id, safe='')}?{query}", expires

    def verify(self, task_id: str, *, expires: str | None, token: str | None) -> bool:
        """Whether ``token`` signs ``task_id`` until ``expires`` and that time is still ahead.

        The comparison takes the same time whatever the token, so it cannot be guessed byte by
        byte, and it is made before the task is looked up, so a refusal says nothing about
        whether the task exists.
        """
        if expires is None or token is None or not expires.isdigit():
            return False
        good = hmac.compare_digest(self._token(task_id, int(expires)).encode(), token.encode())
        return good and int(expires) > self._clock()

    def renew_before(self) -> float:
        """A URL expiring before this time (seconds since the epoch) is due to be re-signed."""
        return self._clock() + self.ttl_s * REFRESH_MARGIN_FRACTION


def refresh_image_urls(
    *,
    state: BridgeState,
    client: LabelStudioClient,
    signer: ImageUrlSigner,
    bridge_url: str,
    limit: int,
) -> int:
    """Re-sign the image URL of up to ``limit`` Label Studio tasks whose URL expires within
    half its lifetime (or was never signed); returns how many were due.

    When the key changed since the last round (the secret was rotated), every URL is due.
    A task Label Studio no longer has is logged and not tried again until its new expiry
    would be due; an unreachable Label Studio or a refused token stops the round.
    """
    if state.get(_KEY_ID_STATE) != signer.key_id:
        state.forget_image_url_expiries()
        state.put(_KEY_ID_STATE, signer.key_id)
    due = state.tasks_with_image_urls_due(before=signer.renew_before(), limit=limit)
    for task_id, ls_task_id in due:
        url, expires = signer.url(bridge_url, task_id)
        try:
            client.update_task_data(ls_task_id, {IMAGE_NAME: url})
        except (LabelStudioUnavailableError, LabelStudioAuthError):
            raise
        except LabelStudioError as exc:
            logger.warning("image URL of Label Studio task %d not renewed: %s", ls_task_id, exc)
        state.set_image_url_expiry(task_id, expires)
    return len(due)
