"""Getting an event's image bytes safely: inline or by claim check, confined, verified and
size-capped.

A ``ScanFrame`` carries its PNG inline or a claim-check ``uri``; a ``Detection`` and an
annotation task name the frame the edge stored with an ``ImageLink`` (docs/events.md). Every
role that reads an image an event names reads it through an :class:`ImageReader`, so the
same checks apply to all, and an event's URI is treated as what it is, input from outside:

* it must lie under one of the reader's roots (the frame store, the scanners' claim-check
  folders: settings, never the event); ``..``, symbolic links out of a root and other
  schemes are refused, so an event cannot make a worker read ``/etc/shadow``;
* on local disk only a regular file is read (a FIFO or ``/dev/zero`` would block or never
  end), elsewhere the read runs in a helper thread with a deadline, so a store that never
  answers cannot stall the caller;
* the declared size is capped before any byte is read, the read itself is capped (a lying
  store cannot make us read more), the SHA-256 must match (the codec does not hash on
  decode), and the pixel count is checked from the PNG header before any pixel is decoded
  (decompression bombs);
* a refusal says what was wrong with the event, never what the file it named holds (its
  size or hash), so dead letters cannot be used to probe files.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Final

import fsspec

from schemas.events import ImageLink, ImagePayload
from schemas.exceptions import ImageRejectedError
from schemas.roots import LOCAL_PROTOCOLS, UriRoots, split_uri

__all__ = [
    "DEFAULT_MAX_IMAGE_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_READ_TIMEOUT_S",
    "ImageReader",
    "png_payload",
    "png_size",
]

#: Largest encoded image accepted: a 4k x 4k PNG of noisy scans is ~30 MB; more is abuse.
DEFAULT_MAX_IMAGE_BYTES: Final[int] = 64 * 1024 * 1024
#: Largest decoded image, as the engine's own cap: 8k x 6k covers every scanner.
DEFAULT_MAX_PIXELS: Final[int] = 48_000_000
#: How long a read from a remote store may take: an image is a few MB on a local network.
DEFAULT_READ_TIMEOUT_S: Final[float] = 10.0
#: PNG signature followed by the IHDR chunk header: width and height follow at bytes 16-24.
_PNG_HEAD: Final[bytes] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
#: Remote reads in flight at once; one that times out keeps its thread until it ends.
_REMOTE_READERS: Final[int] = 4
_remote = ThreadPoolExecutor(max_workers=_REMOTE_READERS, thread_name_prefix="image-read")


@dataclass(frozen=True)
class ImageReader:
    """Reads the images events name, from under ``roots`` only (fsspec URLs or directories;
    none: inline images only), at most ``max_bytes`` encoded and ``max_pixels`` decoded,
    remote reads within ``timeout_s``; ``storage_options`` go to fsspec (credentials)."""

    roots: Sequence[str] = ()
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    timeout_s: float = DEFAULT_READ_TIMEOUT_S
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    _roots: UriRoots = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_roots", UriRoots(self.roots))

    def read(self, uri: str) -> bytes:
        """The bytes at ``uri`` (at most ``max_bytes``): refused when outside the roots,
        not a regular file, too large, unreadable or too slow."""
        protocol, path = split_uri(uri)
        if protocol in LOCAL_PROTOCOLS:
            data = self._read_local(uri, path)
        else:
            data = self._read_remote(uri)
        if len(data) > self.max_bytes:
            raise ImageRejectedError(f"image exceeds {self.max_bytes} bytes")
        return data

    def link(self, link: ImageLink) -> bytes:
        """The encoded PNG an ``ImageLink`` names, checked against its SHA-256 and, from its
        header, against ``max_pixels`` (whoever decodes it next: a console's browser, the
        training set, Label Studio)."""
        data = self.read(link.uri)
        _check_hash(data, link.sha256)
        self._check_pixels(data)
        return data

    def frame(self, image: ImagePayload) -> bytes:
        """The verified encoded image of a frame payload, inline or by claim check.

        Refused when over ``max_bytes`` (declared or actual), not a PNG, over
        ``max_pixels`` by its header, unlike the declared width, height or size, or when its
        SHA-256 differs from ``image.sha256``.
        """
        if image.size_bytes > self.max_bytes:
            raise ImageRejectedError(f"image of {image.size_bytes} bytes exceeds {self.max_bytes}")
        if image.inline is not None:
            data = bytes(image.inline)
            if len(data) > self.max_bytes:
                raise ImageRejectedError(f"image exceeds {self.max_bytes} bytes")
        elif image.uri is not None:
            data = self.read(image.uri)
        else:
            raise ImageRejectedError("frame has neither an inline image nor a claim-check uri")
        if len(data) != image.size_bytes:
            raise ImageRejectedError(f"image size differs from the frame's {image.size_bytes}")
        _check_hash(data, image.sha256)
        width, height = self._check_pixels(data)
        if (width, height) != (image.width, image.height):
            raise ImageRejectedError(
                f"image is {width}x{height}, frame says {image.width}x{image.height}"
            )
        return data

    def _check_pixels(self, data: bytes) -> tuple[int, int]:
        """``(width, height)`` of PNG ``data``; refused over ``max_pixels`` (bombs)."""
        width, height = png_size(data)
        if width * height > self.max_pixels:
            raise ImageRejectedError(f"image {width}x{height} exceeds {self.max_pixels} pixels")
        return width, height

    def _refuse(self, uri: str) -> ImageRejectedError:
        return ImageRejectedError(
            f"{uri[:200]} is outside the image roots this worker reads from "
            f"({', '.join(self.roots) or 'none: inline images only'})"
        )

    def _read_local(self, uri: str, path: str) -> bytes:
        real = os.path.realpath(path)
        if not self._roots.holds_path("file", real):
            raise self._refuse(uri)
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer.
            descriptor = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise ImageRejectedError(f"cannot read {uri[:200]}: {exc.strerror}") from exc
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise ImageRejectedError(f"{uri[:200]} is not a regular file")
            chunks: list[bytes] = []
            left = self.max_bytes + 1
            while left > 0 and (chunk := os.read(descriptor, min(left, 1 << 20))):
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise ImageRejectedError(f"cannot read {uri[:200]}: {exc.strerror}") from exc
        finally:
            os.close(descriptor)

    def _read_remote(self, uri: str) -> bytes:
        if not self._roots.holds(uri):
            raise self._refuse(uri)

        def fetch() -> bytes:
            with fsspec.open(uri, "rb", **self.storage_options) as handle:
                data: bytes = handle.read(self.max_bytes + 1)
            return data

        future = _remote.submit(fetch)
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout as exc:
            future.cancel()
            raise ImageRejectedError(
                f"reading {uri[:200]} took longer than {self.timeout_s:g} s"
            ) from exc
        except Exception as exc:  # a store client raises anything; it is this image's failure
            raise ImageRejectedError(f"cannot read {uri[:200]}: {exc}") from exc


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from a PNG header, without decoding; raises on anything else."""
    if len(data) < 24 or not data.startswith(_PNG_HEAD):
        raise ImageRejectedError("not a PNG image (bad signature or IHDR)")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _check_hash(data: bytes, sha256: str) -> None:
    if hashlib.sha256(data).hexdigest() != sha256.lower():
        raise ImageRejectedError("image does not match its SHA-256")


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
