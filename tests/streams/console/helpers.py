"""Event builders of the console tests: a frame with an inline PNG and its detection, linked
to the frame's image as the edge stages it."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from PIL import Image

from schemas.events import Box, DetectedObject, Detection, ImageLink, ImagePayload, ScanFrame
from schemas.images import ImageReader, png_payload
from streams.frame_store import FrameStore

WIDTH, HEIGHT = 160, 120


def png(seed: int = 0) -> bytes:
    """A small noisy RGB PNG of ``WIDTH`` x ``HEIGHT``."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    pixels = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def frame(frame_id: str, *, checkpoint: str = "hq", lane: str = "1", seed: int = 0) -> ScanFrame:
    """A scanner frame with its image inline."""
    return ScanFrame(
        checkpoint=checkpoint,
        lane=lane,
        frame_id=frame_id,
        scanner_id="scanner-1",
        view_id="top",
        image=png_payload(png(seed)),
    )


def detected(
    object_id: str,
    box: tuple[float, float, float, float],
    *,
    class_name: str = "phone",
    score: float = 0.9,
    alarmed: bool = True,
) -> DetectedObject:
    """One detected object; ``box`` is ``[x1, y1, x2, y2]`` pixels."""
    return DetectedObject(
        object_id=object_id,
        class_name=class_name,  # type: ignore[arg-type]
        score=score,
        box=Box(x1=box[0], y1=box[1], x2=box[2], y2=box[3]),
        alarmed=alarmed,
    )


def detection(
    frame_id: str, *objects: DetectedObject, checkpoint: str = "hq", lane: str = "1"
) -> Detection:
    """The detector's result on frame ``frame_id`` of ``WIDTH`` x ``HEIGHT`` pixels."""
    return Detection(
        checkpoint=checkpoint,
        lane=lane,
        frame_id=frame_id,
        model_version="m-test",
        inference_latency_ms=4.0,
        image_width=WIDTH,
        image_height=HEIGHT,
        objects=objects,
        alarmed=any(o.alarmed for o in objects),
    )


def two_alarms(frame_id: str, *, checkpoint: str = "hq", lane: str = "1") -> Detection:
    """A phone and a usb stick alarmed, a quiet ``others`` below the threshold."""
    return detection(
        frame_id,
        detected("o1", (10, 10, 60, 50), class_name="phone", score=0.93),
        detected("o2", (80, 20, 120, 60), class_name="usb", score=0.71),
        detected("o3", (20, 70, 50, 100), class_name="others", score=0.2, alarmed=False),
        checkpoint=checkpoint,
        lane=lane,
    )


def staged(store: FrameStore, frame: ScanFrame, detection: Detection) -> Detection:
    """``detection`` as the edge sends it: linked to ``frame``'s image staged in ``store``,
    and each of its extra views to the frame's view of that id."""

    def stage(image: ImagePayload) -> ImageLink:
        return store.stage(
            ImageReader().frame(image),
            checkpoint=frame.checkpoint,
            lane=frame.lane,
            frame_id=frame.frame_id,
        )

    images = {view.view_id: view.image for view in frame.views}
    views = tuple(
        dataclasses.replace(view, image=stage(images[view.view_id])) for view in detection.views
    )
    return dataclasses.replace(detection, image=stage(frame.image), views=views)
