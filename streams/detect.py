"""The detect step of the edge, without Kafka: a batch of ``ScanFrame`` in, one
``Detection`` (or the reason it failed) per frame out.

:meth:`FrameDetector.run_batch` is what the detect agent hands to an executor thread, so
everything blocking — reading a claim check, hashing, PNG decoding, inference, staging the
image in the frame store — happens off the event loop. A bad frame fails alone: its slot
holds the exception and the rest of the batch is still detected.

The engine can be swapped at any time (:meth:`swap_engine`, the hook for the edge model
manager): a batch already running finishes on the engine it started with, the next batch
uses the new one, so no frame is dropped or processed twice. An engine that is also a
:class:`FrameRoutingEngine` (the model manager's shadow/canary engine) sees the frames and
says, per frame, which model version served it.

With a :class:`~streams.tip.TipProjector` (threat image projection, #20) a frame drawn for
TIP gets a simulated medium projected into its image before it is staged and detected, so
the guard and the detector see the same image; its detection carries the projection
(``Detection.tip``) and always alarms, so the frame reaches the guard like any alarm. TIP
frames are served by the engine's plain :meth:`Engine.predict` (the active model), never
by the routing hook: a trial model's agreement and canary figures count real frames only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from detector.datasets.coco import encode_png
from detector.engine import DetectedObject as EngineObject
from detector.engine import decode_png
from detector.exceptions import ImageDecodeError
from schemas.events import (
    Box,
    DetectedObject,
    Detection,
    ImageLink,
    ScanFrame,
    TipProjection,
    now_ms,
)
from schemas.exceptions import ImageRejectedError
from schemas.images import ImageReader
from streams.exceptions import FrameStoreError
from streams.frame_store import FrameStore
from streams.tip import TipProjector

__all__ = [
    "BatchResult",
    "Engine",
    "FrameDetector",
    "FrameRoutingEngine",
    "PreparedBatch",
    "to_detection",
]

#: One slot per frame: its detection, or why the frame could not be detected.
BatchResult = Detection | ImageRejectedError


class Engine(Protocol):
    """What the detect step needs of an inference engine (``detector.engine.InferenceEngine``)."""

    @property
    def model_version(self) -> str: ...

    def predict(self, images: Sequence[np.ndarray]) -> list[list[EngineObject]]: ...


@runtime_checkable
class FrameRoutingEngine(Engine, Protocol):
    """An engine that picks the model per frame (canary lanes) and names the version used."""

    def predict_frames(
        self, frames: Sequence[ScanFrame], images: Sequence[np.ndarray]
    ) -> list[tuple[str, list[EngineObject]]]: ...


def _serve(
    engine: Engine, frames: Sequence[ScanFrame], images: Sequence[np.ndarray]
) -> list[tuple[str, list[EngineObject]]]:
    """``(model version, detections)`` per image, through the routing hook when there is one."""
    if isinstance(engine, FrameRoutingEngine):
        return engine.predict_frames(frames, images)
    return [(engine.model_version, objects) for objects in engine.predict(images)]


def to_detection(
    frame: ScanFrame,
    objects: Sequence[EngineObject],
    *,
    model_version: str,
    latency_ms: float,
    image: ImageLink | None = None,
    tip: TipProjection | None = None,
) -> Detection:
    """The ``Detection`` event of one frame; object ids ``o0, o1, ...`` in score order;
    ``image`` is where the frame's image was staged; ``tip`` the medium projected into it
    (such a frame alarms whatever the detector found: the guard is being tested)."""
    detected = tuple(
        DetectedObject(
            object_id=f"o{index}",
            class_name=obj.class_name,
            score=obj.score,
            box=Box(x1=obj.box[0], y1=obj.box[1], x2=obj.box[2], y2=obj.box[3]),
            alarmed=obj.alarmed,
        )
        for index, obj in enumerate(objects)
    )
    return Detection(
        event_time=now_ms(),
        checkpoint=frame.checkpoint,
        lane=frame.lane,
        frame_id=frame.frame_id,
        model_version=model_version,
        inference_latency_ms=latency_ms,
        image_width=frame.image.width,
        image_height=frame.image.height,
        objects=detected,
        alarmed=tip is not None or any(obj.alarmed for obj in detected),
        image=image,
        scan=frame.scan,
        tip=tip,
    )


def _predictions(engine: Engine, batch: PreparedBatch) -> list[tuple[str, list[EngineObject]]]:
    """``(model version, detections)`` per prepared frame, in slot order: real frames
    through the routing hook, TIP frames through the plain engine (kept out of a trial's
    agreement and canary figures)."""
    real = [i for i, tip in enumerate(batch.tips) if tip is None]
    tipped = [i for i, tip in enumerate(batch.tips) if tip is not None]
    out: list[tuple[str, list[EngineObject]]] = [("", [])] * len(batch.arrays)
    if real:
        frames = [batch.frames[batch.slots[i]] for i in real]
        served = _serve(engine, frames, [batch.arrays[i] for i in real])
        for i, prediction in zip(real, served, strict=True):
            out[i] = prediction
    if tipped:
        predicted = engine.predict([batch.arrays[i] for i in tipped])
        for i, objects in zip(tipped, predicted, strict=True):
            out[i] = (engine.model_version, objects)
    return out


@dataclass
class PreparedBatch:
    """Frames ready for inference: decoded ``HxWx3`` uint8 arrays for the frames at
    ``slots`` with where each was staged and its TIP projection (``tips``, None for a real
    frame), the error of every frame that failed in ``results`` (``None`` elsewhere), and
    the frames detected although their image could not be staged (``unstaged``: frame id
    and why)."""

    frames: tuple[ScanFrame, ...]
    results: list[BatchResult | None]
    arrays: list[np.ndarray] = field(default_factory=list)
    links: list[ImageLink | None] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    tips: list[TipProjection | None] = field(default_factory=list)
    unstaged: list[tuple[str, FrameStoreError]] = field(default_factory=list)


class FrameDetector:
    """Verifies, decodes, stages and detects frames; thread-safe engine swapping."""

    def __init__(
        self,
        *,
        engine: Engine,
        store: FrameStore | None = None,
        images: ImageReader | None = None,
        tip: TipProjector | None = None,
    ) -> None:
        self._engine = engine
        self._tip = tip
        self._store = store
        self._images = images if images is not None else ImageReader()
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine the next batch will use."""
        return self._engine

    @property
    def store(self) -> FrameStore | None:
        """Where frames are staged (None: not staged)."""
        return self._store

    def swap_engine(self, engine: Engine) -> Engine:
        """Serve later batches with ``engine``; returns the previous one (to retire it)."""
        with self._lock:
            previous, self._engine = self._engine, engine
        return previous

    def _prepare(
        self, frame: ScanFrame, batch: PreparedBatch
    ) -> tuple[np.ndarray, ImageLink | None, TipProjection | None]:
        data = self._images.frame(frame.image)
        try:
            array = decode_png(data, max_pixels=self._images.max_pixels)
        except ImageDecodeError as exc:
            raise ImageRejectedError(str(exc)) from exc
        tip = None
        projected = None if self._tip is None else self._tip.project(frame, array)
        if projected is not None:
            array, tip = projected
            data = encode_png(array)  # the guard's console shows the projected image
        if self._store is None:
            return array, None, tip
        try:
            link = self._store.stage(
                data, checkpoint=frame.checkpoint, lane=frame.lane, frame_id=frame.frame_id
            )
        except FrameStoreError as exc:
            # Fail closed: a full or broken store must not silence the alarm. The frame is
            # detected without a link (the console shows why its image is missing) and the
            # failure is reported by the caller.
            batch.unstaged.append((frame.frame_id, exc))
            return array, None, tip
        return array, link, tip

    def prepare(self, frames: Sequence[ScanFrame]) -> PreparedBatch:
        """Verify, decode and stage ``frames``; a frame that fails keeps its error.

        Blocking, and separate from :meth:`infer` so the edge can prepare the next batch in
        another thread while this one is in inference.
        """
        batch = PreparedBatch(frames=tuple(frames), results=[None] * len(frames))
        for index, frame in enumerate(frames):
            try:
                array, link, tip = self._prepare(frame, batch)
            except ImageRejectedError as exc:
                batch.results[index] = exc
                continue
            except Exception as exc:  # any error of one frame fails that frame alone
                batch.results[index] = ImageRejectedError(
                    f"preparing the frame failed: {type(exc).__name__}: {exc}"
                )
                continue
            batch.arrays.append(array)
            batch.links.append(link)
            batch.slots.append(index)
            batch.tips.append(tip)
        return batch

    def infer(self, batch: PreparedBatch) -> list[BatchResult]:
        """One result per prepared frame, in order, from the engine in place now. Blocking."""
        with self._lock:
            engine = self._engine
        results = list(batch.results)
        if batch.arrays:
            started = time.perf_counter()
            predictions = _predictions(engine, batch)
            latency_ms = (time.perf_counter() - started) * 1000.0
            served_at = zip(batch.slots, batch.links, batch.tips, predictions, strict=True)
            for index, link, tip, (version, objects) in served_at:
                results[index] = to_detection(
                    batch.frames[index],
                    objects,
                    model_version=version,
                    latency_ms=latency_ms,
                    image=link,
                    tip=tip,
                )
        return [result for result in results if result is not None]

    def run_batch(self, frames: Sequence[ScanFrame]) -> list[BatchResult]:
        """One result per frame, in order. Blocking: call it from an executor thread."""
        return self.infer(self.prepare(frames))
