"""Small, valid example events for documentation, tests and benchmarks.

One place builds them so that every test and the benchmark agree on what a typical
``Detection`` or ``ScanFrame`` looks like, and a schema change updates them all at once.
"""

from __future__ import annotations

import hashlib
import random

from schemas.events import Box, DetectedObject, Detection, ImagePayload, ScanFrame

__all__ = ["example_detection", "example_scan_frame"]


def example_detection(*, objects: int = 10, frame_id: str = "hq-north/3/000123456") -> Detection:
    """A ``Detection`` of ``objects`` objects, alternately an alarming phone and an 'others'."""
    return Detection(
        checkpoint="hq-north",
        lane="3",
        frame_id=frame_id,
        model_version="retinanet-2026.11.1",
        inference_latency_ms=41.7,
        image_width=1920,
        image_height=1080,
        objects=tuple(
            DetectedObject(
                object_id=f"o{i}",
                class_name="phone" if i % 2 else "others",
                score=0.5 + i / 40,
                box=Box(x1=10.0 * i, y1=20.0, x2=10.0 * i + 55.5, y2=80.25),
                alarmed=bool(i % 2),
            )
            for i in range(objects)
        ),
        alarmed=objects > 1,
    )


def example_scan_frame(
    *, image_bytes: int = 1024, size_bytes: int | None = None, uri: str | None = None
) -> ScanFrame:
    """A ``ScanFrame`` with ``image_bytes`` of incompressible stand-in PNG bytes inline.

    ``size_bytes`` overrides the declared size (to test the invariant); with ``uri`` the image
    is sent by claim check as well as inline (also invalid, for tests).
    """
    png = random.Random(image_bytes).randbytes(image_bytes)
    return ScanFrame(
        checkpoint="hq-north",
        lane="3",
        frame_id=f"hq-north/3/{image_bytes:09d}",
        scanner_id="scanner-07",
        view_id="top",
        image=ImagePayload(
            encoding="png",
            width=1920,
            height=1080,
            size_bytes=len(png) if size_bytes is None else size_bytes,
            sha256=hashlib.sha256(png).hexdigest(),
            inline=png,
            uri=uri,
        ),
    )
