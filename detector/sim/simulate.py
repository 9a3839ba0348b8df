"""One simulated scan from (preset, seed, index): layout, physics, detector, display.

Every image derives from ``(seed, index)`` alone, through two independent random streams
(scene layout, detector noise), so images can be made in any order, in any number of
processes, and come out identical; and labels can be sampled without rendering pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from detector.exceptions import SimulationError
from detector.sim.display import pseudo_colour
from detector.sim.materials import PhysicsTables
from detector.sim.render import render, scene_window
from detector.sim.scenes import BoxXYXY, KindRegistry, SceneLayout, ScenePreset, sample_layout
from leakguard.classes import CLASS_NAMES

#: Full scale of the 16-bit raw channels: transmission 1.0 maps to this value.
RAW_FULL_SCALE: Final[int] = 65535


@dataclass(frozen=True)
class GroundTruthObject:
    """A labelled object: class id (leakguard.classes), subtype, ``[x1, y1, x2, y2]`` pixels."""

    class_id: int
    subtype: str
    box_xyxy: BoxXYXY

    @property
    def class_name(self) -> str:
        """The class name of :attr:`class_id` (``hdd`` ... ``others``)."""
        return CLASS_NAMES[self.class_id]


@dataclass(frozen=True)
class SimulatedImage:
    """A rendered scan: display RGB (H, W, 3) uint8, raw (2, H, W) float32 transmissions."""

    rgb: npt.NDArray[np.uint8]
    raw: npt.NDArray[np.float32]
    objects: tuple[GroundTruthObject, ...]

    def raw_uint16(self) -> npt.NDArray[np.uint16]:
        """Raw channels as the scanner stores them: (H, W, 2) uint16, low then high energy."""
        scaled = np.rint(np.moveaxis(self.raw, 0, -1) * RAW_FULL_SCALE)
        return np.clip(scaled, 0, RAW_FULL_SCALE).astype(np.uint16)


def _streams(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    if seed < 0 or index < 0:
        raise SimulationError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    layout_seq, noise_seq = np.random.SeedSequence([seed, index]).spawn(2)
    return np.random.default_rng(layout_seq), np.random.default_rng(noise_seq)


def ground_truth(layout: SceneLayout) -> tuple[GroundTruthObject, ...]:
    """The labelled objects of a layout, boxes rounded to 1/100 pixel."""
    return tuple(
        GroundTruthObject(
            o.class_id,
            o.subtype,
            (
                round(o.box_xyxy[0], 2),
                round(o.box_xyxy[1], 2),
                round(o.box_xyxy[2], 2),
                round(o.box_xyxy[3], 2),
            ),
        )
        for o in layout.labelled()
        if o.class_id is not None
    )


def scene_layout(
    preset: ScenePreset,
    *,
    seed: int,
    index: int,
    width_px: int = 640,
    height_px: int = 640,
    registry: KindRegistry | None = None,
) -> SceneLayout:
    """The layout of image ``index`` of the set ``seed``: labels without rendering."""
    layout_rng, _ = _streams(seed, index)
    return sample_layout(
        preset, rng=layout_rng, width_px=width_px, height_px=height_px, registry=registry
    )


def simulate(
    preset: ScenePreset,
    *,
    seed: int,
    index: int,
    width_px: int = 640,
    height_px: int = 640,
    registry: KindRegistry | None = None,
    tables: PhysicsTables | None = None,
) -> SimulatedImage:
    """Render image ``index`` of the set ``seed`` with ``preset``; identical on every call."""
    layout = scene_layout(
        preset, seed=seed, index=index, width_px=width_px, height_px=height_px, registry=registry
    )
    _, noise_rng = _streams(seed, index)
    return rendered_image(layout, rng=noise_rng, tables=tables)


def rendered_image(
    layout: SceneLayout, *, rng: np.random.Generator, tables: PhysicsTables | None = None
) -> SimulatedImage:
    """``layout`` rendered with detector noise from ``rng`` and shown in pseudo-colour."""
    raw = render(layout, rng=rng, tables=tables)
    # Outside the scene window the raw image is exactly 1, which the display shows white.
    rgb = np.full((layout.height_px, layout.width_px, 3), 255, dtype=np.uint8)
    r0, r1, c0, c1 = scene_window(layout)
    rgb[r0:r1, c0:c1] = pseudo_colour(raw[:, r0:r1, c0:c1], tables=tables)
    return SimulatedImage(rgb, raw, ground_truth(layout))
