"""Event builders shared by the streams tests: small PNGs, detections and verdicts."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
from PIL import Image

from schemas.events import (
    Box,
    ClassCorrection,
    DetectedObject,
    Detection,
    GuardVerdict,
    ImageLink,
    ImagePayload,
    LabeledBox,
    ObjectClassName,
    ScanFrame,
    now_ms,
)
from schemas.images import png_payload


def png(width: int = 128, height: int = 128, *, seed: int = 0) -> bytes:
    """A small noisy RGB PNG."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


def obj(
    object_id: str,
    box: tuple[float, float, float, float],
    *,
    alarmed: bool = True,
    class_name: str = "phone",
    score: float = 0.9,
) -> DetectedObject:
    return DetectedObject(
        object_id=object_id,
        class_name=class_name,  # type: ignore[arg-type]
        score=score,
        box=Box(x1=box[0], y1=box[1], x2=box[2], y2=box[3]),
        alarmed=alarmed,
    )


def detection(
    *objects: DetectedObject, frame_id: str = "cp/1/000000001", image: ImageLink | None = None
) -> Detection:
    return Detection(
        checkpoint="cp",
        lane="1",
        frame_id=frame_id,
        model_version="m1",
        inference_latency_ms=5.0,
        image_width=128,
        image_height=128,
        objects=objects,
        alarmed=any(o.alarmed for o in objects),
        image=image,
    )


def labeled(box: tuple[float, float, float, float], class_name: str = "usb") -> LabeledBox:
    return LabeledBox(class_name=class_name, box=Box(x1=box[0], y1=box[1], x2=box[2], y2=box[3]))  # type: ignore[arg-type]


def verdict(
    det: Detection,
    *,
    decision: str = "confirmed",
    rejected: tuple[str, ...] = (),
    missed: tuple[LabeledBox, ...] = (),
    corrected: tuple[tuple[str, ObjectClassName], ...] = (),
    after_s: float = 3.0,
) -> GuardVerdict:
    """The verdict of guard ``g7`` on ``det``; ``corrected`` holds (object id, class) pairs."""
    return GuardVerdict(
        event_time=det.event_time + timedelta(seconds=after_s),
        checkpoint=det.checkpoint,
        lane=det.lane,
        frame_id=det.frame_id,
        model_version=det.model_version,
        detection_event_id=det.event_id,
        guard_id="g7",
        decision=decision,  # type: ignore[arg-type]
        rejected_object_ids=rejected,
        missed_items=missed,
        class_corrections=tuple(
            ClassCorrection(object_id=object_id, class_name=class_name)
            for object_id, class_name in corrected
        ),
    )


__all__ = ["detection", "labeled", "now_ms", "obj", "png", "verdict"]


def scan_frame(index: int, image: bytes | ImagePayload, *, lane: str) -> ScanFrame:
    """Frame ``index`` of ``lane``: PNG bytes go inline, a payload as it is (claim check)."""
    return ScanFrame(
        checkpoint="cp",
        lane=lane,
        frame_id=f"cp/{lane}/{index:09d}",
        scanner_id="s1",
        view_id="top",
        image=png_payload(image) if isinstance(image, bytes) else image,
    )
