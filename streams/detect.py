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

A multi-view frame (#20, ``ScanFrame.views``) has each extra view verified, decoded, staged
and detected like the primary, in the same engine call as the batch (so views keep the
batching's throughput, and a routing engine serves a frame's views with the frame's
model); its objects carry their ``view_id`` and are matched across views into items
(:mod:`streams.logic.views`), so an item seen in two views is one item and the frame
alarms once. A frame with too many views, a repeated view id or a bad view image is
rejected whole: a guard must not clear a bag on the one view that decoded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

import numpy as np

from detector.datasets.coco import encode_png
from detector.engine import DetectedObject as EngineObject
from detector.engine import decode_png
from detector.exceptions import ImageDecodeError
from schemas.events import (
    MAX_EXTRA_VIEWS,
    Box,
    DetectedObject,
    Detection,
    DetectionView,
    ImageLink,
    ScanFrame,
    TipProjection,
    now_ms,
)
from schemas.exceptions import ImageRejectedError
from schemas.images import ImageReader
from streams.exceptions import FrameStoreError
from streams.frame_store import FrameStore
from streams.logic.views import match_items
from streams.tip import TipProjector

__all__ = [
    "MAX_EXTRA_VIEWS",
    "BatchResult",
    "Engine",
    "FrameDetector",
    "FrameRoutingEngine",
    "PreparedBatch",
    "PreparedView",
    "to_detection",
]

#: Longest view id: scanners name views with a word ("top", "side", DICOS View Name is 16).
MAX_VIEW_ID_CHARS: Final[int] = 64

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


@dataclass(frozen=True)
class PreparedView:
    """One extra view of a prepared frame: its decoded ``HxWx3`` uint8 image and where it
    was staged (None: not staged)."""

    view_id: str
    array: np.ndarray
    link: ImageLink | None


def _detected(
    objects: Sequence[EngineObject], *, first: int, view_id: str | None
) -> list[DetectedObject]:
    return [
        DetectedObject(
            object_id=f"o{first + index}",
            class_name=obj.class_name,
            score=obj.score,
            box=Box(x1=obj.box[0], y1=obj.box[1], x2=obj.box[2], y2=obj.box[3]),
            alarmed=obj.alarmed,
            view_id=view_id,
        )
        for index, obj in enumerate(objects)
    ]


def to_detection(
    frame: ScanFrame,
    objects: Sequence[EngineObject],
    *,
    model_version: str,
    latency_ms: float,
    image: ImageLink | None = None,
    tip: TipProjection | None = None,
    views: Sequence[tuple[PreparedView, Sequence[EngineObject]]] = (),
) -> Detection:
    """The ``Detection`` event of one frame; object ids ``o0, o1, ...`` in score order,
    the primary view's first, then each extra view's (``views``: the view and its
    objects), matched into items across views; ``image`` is where the frame's image was
    staged; ``tip`` the medium projected into it (such a frame alarms whatever the detector
    found: the guard is being tested)."""
    detected = _detected(objects, first=0, view_id=None)
    for view, view_objects in views:
        detected += _detected(view_objects, first=len(detected), view_id=view.view_id)
    if views:
        detected = list(match_items(detected))
    return Detection(
        event_time=now_ms(),
        checkpoint=frame.checkpoint,
        lane=frame.lane,
        frame_id=frame.frame_id,
        model_version=model_version,
        inference_latency_ms=latency_ms,
        image_width=frame.image.width,
        image_height=frame.image.height,
        objects=tuple(detected),
        alarmed=tip is not None or any(obj.alarmed for obj in detected),
        image=image,
        scan=frame.scan,
        tip=tip,
        views=tuple(
            DetectionView(
                view_id=view.view_id,
                image_width=view.array.shape[1],
                image_height=view.array.shape[0],
                image=view.link,
            )
            for view, _ in views
        ),
    )


#: ``(model version, detections)`` of each image of one prepared frame: primary first,
#: then its extra views in frame order.
FramePredictions = list[tuple[str, list[EngineObject]]]


def _predictions(engine: Engine, batch: PreparedBatch) -> list[FramePredictions]:
    """The predictions of every image of each prepared frame, in slot order, from one
    engine call per kind of frame: real frames through the routing hook (a frame's views
    as the frame, so they get its model), TIP frames through the plain engine (kept out
    of a trial's agreement and canary figures)."""
    real = [i for i, tip in enumerate(batch.tips) if tip is None]
    tipped = [i for i, tip in enumerate(batch.tips) if tip is not None]
    out: list[FramePredictions] = [[] for _ in batch.arrays]
    for prepared, routed in ((real, True), (tipped, False)):
        counts = [1 + len(batch.views[i]) for i in prepared]
        images = [
            image
            for i in prepared
            for image in (batch.arrays[i], *(view.array for view in batch.views[i]))
        ]
        if not images:
            continue
        if routed:
            frames = [
                batch.frames[batch.slots[i]]
                for i, n in zip(prepared, counts, strict=True)
                for _ in range(n)
            ]
            served = _serve(engine, frames, images)
        else:
            served = [(engine.model_version, objects) for objects in engine.predict(images)]
        start = 0
        for i, n in zip(prepared, counts, strict=True):
            out[i] = served[start : start + n]
            start += n
    return out


@dataclass
class PreparedBatch:
    """Frames ready for inference: decoded ``HxWx3`` uint8 arrays for the frames at
    ``slots`` with where each was staged, its TIP projection (``tips``, None for a real
    frame) and its extra views (``views``, empty for a single-view frame), the error of
    every frame that failed in ``results`` (``None`` elsewhere), and the frames detected
    although an image could not be staged (``unstaged``: frame id and why)."""

    frames: tuple[ScanFrame, ...]
    results: list[BatchResult | None]
    arrays: list[np.ndarray] = field(default_factory=list)
    links: list[ImageLink | None] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    tips: list[TipProjection | None] = field(default_factory=list)
    views: list[tuple[PreparedView, ...]] = field(default_factory=list)
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

    def _decode(self, data: bytes, *, what: str) -> np.ndarray:
        try:
            return decode_png(data, max_pixels=self._images.max_pixels)
        except ImageDecodeError as exc:
            raise ImageRejectedError(f"{what}: {exc}" if what else str(exc)) from exc

    def _stage(self, data: bytes, frame: ScanFrame, batch: PreparedBatch) -> ImageLink | None:
        """Stage one image of ``frame`` (every view under the frame's id, by its SHA-256)."""
        if self._store is None:
            return None
        try:
            return self._store.stage(
                data, checkpoint=frame.checkpoint, lane=frame.lane, frame_id=frame.frame_id
            )
        except FrameStoreError as exc:
            # Fail closed: a full or broken store must not silence the alarm. The frame is
            # detected without a link (the console shows why its image is missing) and the
            # failure is reported by the caller.
            batch.unstaged.append((frame.frame_id, exc))
            return None

    def _prepare_views(self, frame: ScanFrame, batch: PreparedBatch) -> tuple[PreparedView, ...]:
        """Check, decode and stage the frame's extra views; any bad one rejects the frame."""
        if len(frame.views) > MAX_EXTRA_VIEWS:
            raise ImageRejectedError(
                f"frame has {len(frame.views)} extra views, more than the {MAX_EXTRA_VIEWS} allowed"
            )
        seen = {frame.view_id}
        prepared: list[PreparedView] = []
        for view in frame.views:
            if len(view.view_id) > MAX_VIEW_ID_CHARS or not view.view_id:
                raise ImageRejectedError(
                    f"view id of {len(view.view_id)} characters (1 to {MAX_VIEW_ID_CHARS})"
                )
            if view.view_id in seen:
                raise ImageRejectedError(f"view {view.view_id!r} appears twice in the frame")
            seen.add(view.view_id)
            what = f"view {view.view_id!r}"
            try:
                data = self._images.frame(view.image)
            except ImageRejectedError as exc:
                raise ImageRejectedError(f"{what}: {exc}") from exc
            array = self._decode(data, what=what)
            prepared.append(PreparedView(view.view_id, array, self._stage(data, frame, batch)))
        return tuple(prepared)

    def _prepare(
        self, frame: ScanFrame, batch: PreparedBatch
    ) -> tuple[np.ndarray, ImageLink | None, TipProjection | None, tuple[PreparedView, ...]]:
        data = self._images.frame(frame.image)
        array = self._decode(data, what="")
        views = self._prepare_views(frame, batch)
        tip = None
        projected = None if self._tip is None else self._tip.project(frame, array)
        if projected is not None:
            array, tip = projected
            data = encode_png(array)  # the guard's console shows the projected image
        return array, self._stage(data, frame, batch), tip, views

    def prepare(self, frames: Sequence[ScanFrame]) -> PreparedBatch:
        """Verify, decode and stage ``frames``; a frame that fails keeps its error.

        Blocking, and separate from :meth:`infer` so the edge can prepare the next batch in
        another thread while this one is in inference.
        """
        batch = PreparedBatch(frames=tuple(frames), results=[None] * len(frames))
        for index, frame in enumerate(frames):
            try:
                array, link, tip, views = self._prepare(frame, batch)
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
            batch.views.append(views)
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
            served_at = zip(
                batch.slots, batch.links, batch.tips, batch.views, predictions, strict=True
            )
            for index, link, tip, views, ((version, objects), *others) in served_at:
                results[index] = to_detection(
                    batch.frames[index],
                    objects,
                    model_version=version,
                    latency_ms=latency_ms,
                    image=link,
                    tip=tip,
                    views=[(view, found) for view, (_, found) in zip(views, others, strict=True)],
                )
        return [result for result in results if result is not None]

    def run_batch(self, frames: Sequence[ScanFrame]) -> list[BatchResult]:
        """One result per frame, in order. Blocking: call it from an executor thread."""
        return self.infer(self.prepare(frames))
