"""Frame images: inline and claim check, SHA-256, byte and pixel caps (no Kafka)."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import zlib
from pathlib import Path

import pytest

from schemas.exceptions import ImageRejectedError
from schemas.images import frame_image_bytes, png_payload, png_size
from tests.streams.helpers import png


def test_inline_and_claim_check_give_the_same_verified_bytes(tmp_path: Path) -> None:
    data = png(64, 48)
    assert png_size(data) == (64, 48)
    assert frame_image_bytes(png_payload(data)) == data
    path = tmp_path / "f.png"
    path.write_bytes(data)
    assert frame_image_bytes(png_payload(data, uri=f"file://{path}")) == data
    assert frame_image_bytes(png_payload(data, uri=str(path))) == data


def test_sha_mismatch_and_size_lies_are_rejected(tmp_path: Path) -> None:
    data = png(32, 32)
    payload = png_payload(data)
    with pytest.raises(ImageRejectedError, match="SHA-256"):
        frame_image_bytes(dataclasses.replace(payload, sha256="0" * 64))
    with pytest.raises(ImageRejectedError, match="frame says"):
        frame_image_bytes(dataclasses.replace(payload, size_bytes=len(data) + 1))
    with pytest.raises(ImageRejectedError, match=r"exceeds 10$"):
        frame_image_bytes(payload, max_image_bytes=10)
    with pytest.raises(ImageRejectedError, match="frame says 32x33"):
        frame_image_bytes(dataclasses.replace(payload, height=33))
    with pytest.raises(ImageRejectedError, match="cannot read claim check"):
        frame_image_bytes(dataclasses.replace(payload, inline=None, uri=str(tmp_path / "no")))
    with pytest.raises(ImageRejectedError, match="neither"):
        frame_image_bytes(dataclasses.replace(payload, inline=None))


def test_claim_check_read_is_capped_even_when_the_store_lies(tmp_path: Path) -> None:
    data = png(32, 32)
    path = tmp_path / "big.png"
    path.write_bytes(data + b"\0" * 10_000)
    payload = dataclasses.replace(png_payload(data), inline=None, uri=str(path))
    with pytest.raises(ImageRejectedError, match="exceeds"):
        frame_image_bytes(payload, max_image_bytes=len(data) + 100)


def test_decompression_bomb_is_refused_from_the_header() -> None:
    # A valid PNG header claiming 100k x 100k pixels: refused before any pixel is decoded.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    bomb = (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )
    payload = dataclasses.replace(png_payload(png(8, 8)), inline=bomb, size_bytes=len(bomb))
    payload = dataclasses.replace(payload, sha256=hashlib.sha256(bomb).hexdigest())
    with pytest.raises(ImageRejectedError, match="exceeds 48000000 pixels"):
        frame_image_bytes(payload)
    with pytest.raises(ImageRejectedError, match="not a PNG"):
        png_size(b"GIF89a" + b"\0" * 30)
