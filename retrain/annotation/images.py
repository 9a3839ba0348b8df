"""Reading a task's frame image from the frame store, verified against its SHA-256.

The frame store (``streams/frame_store.py``) writes images under fsspec URLs (a directory,
``s3://``...) and an ``ImageLink`` names one with its hash. ``retrain`` may not import
``streams`` (docs/architecture.md, dependency rule), so the read side lives here: an image
is read with a size cap (a lying store cannot make us read more), checked against the hash,
and measured from its header without decoding the pixels.
"""

from __future__ import annotations

import hashlib
import io
from typing import Final

import fsspec
from PIL import Image, UnidentifiedImageError

from retrain.annotation.exceptions import ImageUnavailableError
from schemas.events import ImageLink

__all__ = ["DEFAULT_MAX_IMAGE_BYTES", "image_size", "read_image"]

#: Largest frame image read, as the stream workers' own cap: a noisy 4k x 4k PNG is ~30 MB.
DEFAULT_MAX_IMAGE_BYTES: Final = 64 * 1024 * 1024


def read_image(link: ImageLink, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> bytes:
    """The encoded image behind ``link``; raises :class:`ImageUnavailableError` when it is
    missing, unreadable, over ``max_bytes`` or not the image its SHA-256 names."""
    try:
        with fsspec.open(link.uri, "rb") as handle:
            data: bytes = handle.read(max_bytes + 1)
    except (OSError, ValueError, ImportError) as exc:
        raise ImageUnavailableError(
            f"image {link.uri} is not in the frame store: {type(exc).__name__}: {exc}"
        ) from exc
    if len(data) > max_bytes:
        raise ImageUnavailableError(f"image {link.uri} exceeds {max_bytes} bytes")
    digest = hashlib.sha256(data).hexdigest()
    if digest != link.sha256.lower():
        raise ImageUnavailableError(
            f"image {link.uri} has SHA-256 {digest}, the task names {link.sha256}"
        )
    return data


def image_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels from the image header (no pixel is decoded)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageUnavailableError(f"frame image is not a readable image: {exc}") from exc
    return int(width), int(height)
