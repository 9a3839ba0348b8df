"""Frame images: inline and claim check, confined to the reader's roots, SHA-256, byte and
pixel caps, and reads that cannot block (no Kafka)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from schemas.events import ImageLink
from schemas.exceptions import ImageRejectedError
from schemas.images import ImageReader, png_payload, png_size
from tests.streams.helpers import png


def test_inline_and_claim_check_give_the_same_verified_bytes(tmp_path: Path) -> None:
    data = png(64, 48)
    assert png_size(data) == (64, 48)
    reader = ImageReader(roots=(str(tmp_path),))
    assert reader.frame(png_payload(data)) == data
    path = tmp_path / "f.png"
    path.write_bytes(data)
    assert reader.frame(png_payload(data, uri=f"file://{path}")) == data
    assert reader.frame(png_payload(data, uri=str(path))) == data
    assert reader.link(ImageLink(uri=str(path), sha256=hashlib.sha256(data).hexdigest())) == data


def test_sha_mismatch_and_size_lies_are_rejected(tmp_path: Path) -> None:
    data = png(32, 32)
    payload = png_payload(data)
    reader = ImageReader(roots=(str(tmp_path),))
    with pytest.raises(ImageRejectedError, match="SHA-256"):
        reader.frame(dataclasses.replace(payload, sha256="0" * 64))
    with pytest.raises(ImageRejectedError, match="size differs"):
        reader.frame(dataclasses.replace(payload, size_bytes=len(data) + 1))
    with pytest.raises(ImageRejectedError, match=r"exceeds 10$"):
        ImageReader(max_bytes=10).frame(payload)
    with pytest.raises(ImageRejectedError, match="frame says 32x33"):
        reader.frame(dataclasses.replace(payload, height=33))
    with pytest.raises(ImageRejectedError, match="cannot read"):
        reader.frame(dataclasses.replace(payload, inline=None, uri=str(tmp_path / "no")))
    with pytest.raises(ImageRejectedError, match="neither"):
        reader.frame(dataclasses.replace(payload, inline=None))


def test_claim_check_read_is_capped_even_when_the_store_lies(tmp_path: Path) -> None:
    data = png(32, 32)
    path = tmp_path / "big.png"
    path.write_bytes(data + b"\0" * 10_000)
    payload = dataclasses.replace(png_payload(data), inline=None, uri=str(path))
    reader = ImageReader(roots=(str(tmp_path),), max_bytes=len(data) + 100)
    with pytest.raises(ImageRejectedError, match="exceeds"):
        reader.frame(payload)


def test_decompression_bomb_is_refused_from_the_header(tmp_path: Path) -> None:
    # A valid PNG header claiming 100k x 100k pixels: refused before any pixel is decoded.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    bomb = (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )
    payload = dataclasses.replace(png_payload(png(8, 8)), inline=bomb, size_bytes=len(bomb))
    payload = dataclasses.replace(payload, sha256=hashlib.sha256(bomb).hexdigest())
    with pytest.raises(ImageRejectedError, match="exceeds 48000000 pixels"):
        ImageReader().frame(payload)
    # The same bomb behind an ImageLink: refused before a console, the training set or
    # Label Studio decodes it.
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    link = ImageLink(uri=str(path), sha256=hashlib.sha256(bomb).hexdigest())
    with pytest.raises(ImageRejectedError, match="exceeds 48000000 pixels"):
        ImageReader(roots=(str(tmp_path),)).link(link)
    with pytest.raises(ImageRejectedError, match="not a PNG"):
        png_size(b"GIF89a" + b"\0" * 30)


def test_an_event_cannot_name_a_file_outside_the_roots(tmp_path: Path) -> None:
    """Other folders, ``..``, a symbolic link out of the root, a root's look-alike sibling,
    other schemes: refused before anything is opened, and the reason says nothing of the
    file named (no size, no hash to probe with)."""
    root = tmp_path / "store"
    root.mkdir()
    secret = tmp_path / "secret.png"
    secret.write_bytes(png(16, 16))
    (root / "escape.png").symlink_to(secret)
    (tmp_path / "store-2").mkdir()
    (tmp_path / "store-2" / "x.png").write_bytes(png(8, 8))
    reader = ImageReader(roots=(str(root),))
    hostile = [
        str(secret),
        f"file://{secret}",
        f"{root}/../secret.png",
        str(root / "escape.png"),
        str(tmp_path / "store-2" / "x.png"),
        "/etc/passwd",
        "memory://store/x.png",
        "http://127.0.0.1:9/x.png",
        "ftp://example.invalid/x.png",
    ]
    for uri in hostile:
        with pytest.raises(ImageRejectedError, match="outside the image roots") as refused:
            reader.link(ImageLink(uri=uri, sha256="0" * 64))
        assert str(os.path.getsize(secret)) not in str(refused.value)
    with pytest.raises(ImageRejectedError, match="inline images only"):
        ImageReader().read(str(secret))


def test_a_hash_mismatch_does_not_reveal_the_file_s_hash(tmp_path: Path) -> None:
    data = png(16, 16)
    (tmp_path / "f.png").write_bytes(data)
    with pytest.raises(ImageRejectedError) as refused:
        ImageReader(roots=(str(tmp_path),)).link(
            ImageLink(uri=str(tmp_path / "f.png"), sha256="0" * 64)
        )
    assert hashlib.sha256(data).hexdigest() not in str(refused.value)


def test_a_fifo_or_a_device_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(ImageRejectedError, match="not a regular file"):
        ImageReader(roots=(str(tmp_path),)).read(str(fifo))
    with pytest.raises(ImageRejectedError, match="not a regular file"):
        ImageReader(roots=("/dev",)).read("file:///dev/zero")
    assert time.monotonic() - started < 5


class _Silent(BaseHTTPRequestHandler):
    """Accepts a request and never answers: a claim-check store that hangs."""

    def do_GET(self) -> None:
        time.sleep(30)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def silent_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Silent)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_store_that_never_answers_fails_the_read_after_the_timeout(silent_server: str) -> None:
    reader = ImageReader(roots=(silent_server + "/frames",), timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(ImageRejectedError, match="longer than 1 s"):
        reader.read(silent_server + "/frames/x.png")
    assert time.monotonic() - started < 5
