"""Getting an event's image bytes safely: inline or by claim check, verified and size-capped.

A ``ScanFrame`` carries its PNG inline or a claim-check ``uri``; an annotation task names the
frame the edge stored with an ``ImageLink`` (docs/events.md). Every role that reads an image
an event names reads it here, so the same checks apply to all: the declared size is capped
before any byte is read, a claim check is read through fsspec with a hard cap (a lying store
cannot make us read more), the SHA-256 must match (the codec does not hash on decode), and
the pixel count is checked from the PNG header before any pixel is decoded (decompression
bombs).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import Final

import fsspec

from schemas.events import ImageLink, ImagePayload
from schemas.exceptions import ImageRejectedError

__all__ = [
    "DEFAULT_MAX_IMAGE_BYTES",
    "DEFAULT_MAX_PIXELS",
    "ImageFetcher",
    "fetch_uri",
    "frame_image_bytes",
    "png_payload",
    "png_size",
    "read_link",
]

#: Largest encoded image accepted: a 4k x 4k PNG of noisy scans is ~30 MB; more is abuse.
DEFAULT_MAX_IMAGE_BYTES: Final[int] = 64 * 1024 * 1024
#: Largest decoded image, as the engine's own cap: 8k x 6k covers every scanner.
DEFAULT_MAX_PIXELS: Final[int] = 48_000_000
#: PNG signature followed by the IHDR chunk header: width and height follow at bytes 16-24.
_PNG_HEAD: Final[bytes] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"

#: Reads at most ``max_bytes + 1`` bytes from a claim-check URI.
ImageFetcher = Callable[[str, int], bytes]


def fetch_uri(uri: str, max_bytes: int) -> bytes:
    """Read up to ``max_bytes + 1`` bytes of ``uri`` through fsspec (file, s3, memory...)."""
    try:
        with fsspec.open(uri, "rb") as handle:
            data: bytes = handle.read(max_bytes + 1)
    except (OSError, ValueError, ImportError) as exc:
        raise ImageRejectedError(f"cannot read claim check {uri}: {exc}") from exc
    return data


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from a PNG header, without decoding; raises on anything else."""
    if len(data) < 24 or not data.startswith(_PNG_HEAD):
        raise ImageRejectedError("not a PNG image (bad signature or IHDR)")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def frame_image_bytes(
    image: ImagePayload,
    *,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fetch: ImageFetcher | None = None,
) -> bytes:
    """The verified encoded image of a frame payload.

    Raises :class:`ImageRejectedError` when the image is over ``max_image_bytes`` (declared
    or actual), not a PNG, over ``max_pixels`` by its header, disagrees with the declared
    width/height/size, or its SHA-256 differs from ``image.sha256``.
    """
    if image.size_bytes > max_image_bytes:
        raise ImageRejectedError(f"image of {image.size_bytes} bytes exceeds {max_image_bytes}")
    if image.inline is not None:
        data = bytes(image.inline)
    elif image.uri is not None:
        data = (fetch or fetch_uri)(image.uri, max_image_bytes)
    else:
        raise ImageRejectedError("frame has neither an inline image nor a claim-check uri")
    _check_size(data, max_image_bytes)
    if len(data) != image.size_bytes:
        raise ImageRejectedError(f"image has {len(data)} bytes, frame says {image.size_bytes}")
    _check_hash(data, image.sha256)
    width, height = png_size(data)
    if width * height > max_pixels:
        raise ImageRejectedError(f"image {width}x{height} exceeds {max_pixels} pixels")
    if (width, height) != (image.width, image.height):
        raise ImageRejectedError(
            f"image is {width}x{height}, frame says {image.width}x{image.height}"
        )
    return data


def read_link(
    link: ImageLink, *, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES, fetch: ImageFetcher | None = None
) -> bytes:
    """The encoded image an ``ImageLink`` names, read with the cap and checked against its
    SHA-256; raises :class:`ImageRejectedError` otherwise."""
    data = (fetch or fetch_uri)(link.uri, max_bytes)
    _check_size(data, max_bytes)
    _check_hash(data, link.sha256)
    return data


def _check_size(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise ImageRejectedError(f"image exceeds {max_bytes} bytes")


def _check_hash(data: bytes, sha256: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256.lower():
        raise ImageRejectedError(f"image SHA-256 {digest} does not match {sha256}")


def png_payload(data: bytes, *, uri: str | None = None) -> ImagePayload:
    """The ``ImagePayload`` of PNG ``data``: inline, or by claim check when ``uri`` is given."""
    width, height = png_size(data)
    return ImagePayload(
        encoding="png",
        width=width,
        height=height,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        inline=None if uri is not None else data,
        uri=uri,
    )
