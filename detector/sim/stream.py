"""A simulated scanner: frames (image + ground truth) at a set rate for one checkpoint lane.

The Kafka producer in ``streams/`` iterates a :class:`ScannerStream` the way it would read a
real scanner. Frames are deterministic per ``(seed, checkpoint, lane, frame index)``, so two
lanes never show the same bags and a replay shows the same frames. Pacing uses an injected
:class:`Clock`, so tests run at full speed with a clock that only pretends to sleep. A
dual-view scanner (#20) also renders the side view of each scene
(:mod:`detector.sim.side_view`).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol, get_args

from detector.datasets.coco import encode_png
from detector.exceptions import SimulationError
from detector.sim.scenes import KindRegistry, ScenePreset, get_preset
from detector.sim.side_view import simulate_side
from detector.sim.simulate import GroundTruthObject, SimulatedImage, simulate

ViewName = Literal["top", "side"]
#: The views the simulator renders; the top view is the primary one, which the detector
#: was trained on and every frame has.
VIEW_NAMES: Final[tuple[ViewName, ...]] = get_args(ViewName)


class Clock(Protocol):
    """Time source for pacing: a monotonic clock, wall time and a way to wait."""

    def monotonic(self) -> float: ...
    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock (``time.monotonic``, ``time.time``, ``time.sleep``)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class SimulatedFrame:
    """One scanner frame: PNG of the pseudo-colour display and its ground truth.

    ``ground_truth`` boxes are ``[x1, y1, x2, y2]`` pixels of the ``width`` x ``height`` image;
    ``captured_at_s`` is wall-clock Unix time from the stream's clock. ``image`` keeps the
    arrays (RGB and raw low/high channels) for callers that want them without decoding.
    """

    checkpoint_id: str
    lane_id: str
    frame_index: int
    captured_at_s: float
    image_png: bytes
    width: int
    height: int
    ground_truth: tuple[GroundTruthObject, ...]
    image: SimulatedImage
    views: tuple[SimulatedView, ...] = ()


@dataclass(frozen=True)
class SimulatedView:
    """One more view of a simulated frame (the side view): PNG, arrays and ground truth,
    boxes in its own ``width`` x ``height`` pixels, x along the belt as in the top view."""

    view_id: ViewName
    image_png: bytes
    width: int
    height: int
    image: SimulatedImage


def check_views(views: Sequence[str]) -> tuple[ViewName, ...]:
    """``views`` as view names: known, none twice, the top view first (the primary)."""
    unknown = [view for view in views if view not in VIEW_NAMES]
    if unknown:
        raise SimulationError(f"unknown view {unknown[0]!r}; choose from {', '.join(VIEW_NAMES)}")
    if not views or views[0] != "top" or len(set(views)) != len(views):
        raise SimulationError(
            f"views must start with top and name each view once, got {','.join(views)}"
        )
    return tuple(view for view in VIEW_NAMES if view in views)


def lane_seed(seed: int, checkpoint_id: str, lane_id: str) -> int:
    """A stable 63-bit seed for one lane: the same on every machine and Python version."""
    return (seed << 32) ^ zlib.crc32(f"{checkpoint_id}/{lane_id}".encode())


class ScannerStream:
    """Iterates frames at ``rate_hz`` for ``checkpoint_id``/``lane_id``, forever or ``max_frames``.

    When rendering is slower than the rate, frames follow each other without waiting (the
    stream never bursts to catch up).
    """

    def __init__(
        self,
        *,
        checkpoint_id: str,
        lane_id: str,
        preset: str | ScenePreset = "cluttered",
        seed: int = 0,
        rate_hz: float = 0.5,
        width_px: int = 640,
        height_px: int = 640,
        max_frames: int | None = None,
        start_index: int = 0,
        clock: Clock | None = None,
        registry: KindRegistry | None = None,
        views: Sequence[str] = ("top",),
    ) -> None:
        if rate_hz <= 0:
            raise SimulationError(f"rate_hz must be positive, got {rate_hz}")
        if max_frames is not None and max_frames < 0:
            raise SimulationError(f"max_frames must be >= 0, got {max_frames}")
        self.checkpoint_id, self.lane_id = checkpoint_id, lane_id
        self.preset = get_preset(preset) if isinstance(preset, str) else preset
        self.rate_hz, self.max_frames, self.start_index = rate_hz, max_frames, start_index
        self.width_px, self.height_px = width_px, height_px
        self._seed = lane_seed(seed, checkpoint_id, lane_id)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._registry = registry
        self.views = check_views(views)

    def _render(self, view: Callable[..., SimulatedImage], index: int) -> SimulatedImage:
        """Image ``index`` of this lane as ``view`` (:func:`simulate` from above,
        :func:`simulate_side` across the belt) renders it."""
        return view(
            self.preset,
            seed=self._seed,
            index=index,
            width_px=self.width_px,
            height_px=self.height_px,
            registry=self._registry,
        )

    def _side_view(self, index: int) -> SimulatedView:
        image = self._render(simulate_side, index)
        return SimulatedView("side", encode_png(image.rgb), self.width_px, self.height_px, image)

    def frame(self, index: int) -> SimulatedFrame:
        """Frame ``index`` of this lane, rendered now (no pacing), with its other views."""
        image = self._render(simulate, index)
        return SimulatedFrame(
            self.checkpoint_id,
            self.lane_id,
            index,
            self._clock.time(),
            encode_png(image.rgb),
            self.width_px,
            self.height_px,
            image.objects,
            image,
            tuple(self._side_view(index) for view in self.views if view == "side"),
        )

    def __iter__(self) -> Iterator[SimulatedFrame]:
        period_s = 1.0 / self.rate_hz
        next_due = self._clock.monotonic()
        index = self.start_index
        while self.max_frames is None or index - self.start_index < self.max_frames:
            wait_s = next_due - self._clock.monotonic()
            if wait_s > 0:
                self._clock.sleep(wait_s)
            yield self.frame(index)
            next_due = max(next_due + period_s, self._clock.monotonic())
            index += 1
