"""The side view of a simulated scan: the same scene seen across the belt (#20).

Dual-view checkpoint scanners take a top view (beam vertical) and a side view (beam
horizontal, across the belt). Both share the belt axis, which is image x in both: an object
spans the same columns in either view. The side view's y axis is height above the belt
(up in the image), so a part's thickness along the top view's beam becomes its height here.

The scene stays what :func:`detector.sim.scenes.sample_layout` placed; the side view turns
each part into an axis-aligned slab and renders it with the same physics and display:

* its extent along the belt is the part's exact extent in the top view;
* its height is the part's thickness, lifted by the object's tilt out of plane
  (``thickness * cos(tilt) + height * sin(tilt)``, a tilted plate stands up);
* the beam crosses it along its mean chord, footprint area / extent along the belt (a
  rounded rectangle's area; a frame's border only), so a part keeps its mass;
* containers stand on the belt as shells as tall as their inner height (a bag's walls,
  a tray's rim), their mass spread over it; every other object rests at a height drawn uniformly
  inside its container's inner height, from a random stream of its own per
  ``(seed, index)``, so the top view of a scene is unchanged by asking for its side view.

Approximations, named so nobody mistakes them for physics: parts keep no shape across the
belt (a disc and a square of the same area look alike), an object's parts share one height
band centred on the object (no stacking of a PCB above a casing), objects may overlap in
height (nothing settles), and the profiles (``round``, ``frame``, ``ramp``) are flattened.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

import numpy as np

from detector.sim.containers import CONTAINERS
from detector.sim.materials import PhysicsTables
from detector.sim.scenes import BoxXYXY, KindRegistry, PlacedObject, SceneLayout, ScenePreset
from detector.sim.shapes import MAX_TILT_RAD, Part, Pose, box, part_bounds_px
from detector.sim.simulate import SimulatedImage, rendered_image, scene_layout

__all__ = [
    "BELT_MARGIN_MM",
    "CONTAINER_HEIGHT_MM",
    "side_layout",
    "simulate_side",
]

#: Belt level above the image's bottom edge: room for the belt's own line and blur.
BELT_MARGIN_MM: Final[float] = 30.0
#: Inner height of each container kind: trays have 80 mm walls, bags are packed about a
#: third as high as they are long, a trolley case is the deepest.
CONTAINER_HEIGHT_MM: Final[Mapping[str, float]] = MappingProxyType(
    {"tray": 80.0, "backpack": 220.0, "handbag": 160.0, "trolley": 260.0}
)
#: Inner height for objects outside any known container (a custom scene): a bag's.
DEFAULT_CONTAINER_HEIGHT_MM: Final[float] = 200.0
#: Spawn keys under ``SeedSequence([seed, index])``: 0 and 1 are the top view's layout and
#: noise streams (:mod:`detector.sim.simulate`), so the side view's start after them.
SIDE_HEIGHTS_STREAM: Final[int] = 2
SIDE_NOISE_STREAM: Final[int] = 3


@dataclass(frozen=True)
class _Band:
    """Where an object sits in the side view: its height above the belt, in mm."""

    bottom_mm: float
    height_mm: float
    shell: bool = False
    """A container: its parts fill the band's whole height (bag walls, tray rims)."""


def _tilt(pose: Pose) -> float:
    return min(abs(pose.tilt_rad), MAX_TILT_RAD)


def _part_height_mm(part: Part, pose: Pose) -> float:
    """A part's vertical extent: its thickness, stood up by the object's tilt."""
    tilt = _tilt(pose)
    return part.thickness_mm * math.cos(tilt) + part.height_mm * math.sin(tilt)


def _footprint_mm2(part: Part) -> float:
    """The part's area seen from above (mm^2): a rounded rectangle, or a frame's border."""
    r = part.radius_mm
    outer = part.width_mm * part.height_mm - (4.0 - math.pi) * r * r
    if part.profile != "frame" or part.wall_mm <= 0:
        return outer
    iw, ih = part.width_mm - 2 * part.wall_mm, part.height_mm - 2 * part.wall_mm
    if iw <= 0 or ih <= 0:
        return outer
    ir = max(r - part.wall_mm, 0.0)
    return outer - (iw * ih - (4.0 - math.pi) * ir * ir)


def _side_part(
    part: Part, pose: Pose, band: _Band, *, mm_per_px: float, belt_y_mm: float
) -> Part | None:
    """The slab a part becomes in the side view, centred in the object's height band;
    ``None`` for a part with no extent along the belt."""
    x1, _, x2, _ = part_bounds_px(part, pose, mm_per_px)
    extent_mm = (x2 - x1) * mm_per_px
    if extent_mm <= 0:
        return None
    # Foreshortening by the tilt shrinks the footprint as it shrinks the top view.
    area_mm2 = _footprint_mm2(part) * math.cos(_tilt(pose))
    chord_mm = max(area_mm2 / extent_mm, 0.0)
    height_mm = max(_part_height_mm(part, pose), mm_per_px)
    if band.shell and band.height_mm > height_mm:
        # A container is a shell as tall as its band: its mass is spread over that height.
        chord_mm *= height_mm / band.height_mm
        height_mm = band.height_mm
    centre_y = belt_y_mm - band.bottom_mm - band.height_mm / 2
    centre_x = (x1 + x2) / 2 * mm_per_px
    return box(part.material, extent_mm, height_mm, chord_mm, centre_x, centre_y)


def _bands(layout: SceneLayout, rng: np.random.Generator) -> list[_Band]:
    """Each object's height band: containers on the belt, contents at random heights
    inside the innermost container placed before them."""
    bands: list[_Band] = []
    room_mm = DEFAULT_CONTAINER_HEIGHT_MM
    for obj in layout.objects:
        height = max((_part_height_mm(p, obj.pose) for p in obj.parts), default=0.0)
        if obj.subtype in CONTAINERS:
            room_mm = CONTAINER_HEIGHT_MM.get(obj.subtype, DEFAULT_CONTAINER_HEIGHT_MM)
            bands.append(_Band(0.0, max(height, room_mm), shell=True))
            continue
        bottom = float(rng.uniform(0.0, max(room_mm - height, 0.0)))
        bands.append(_Band(bottom, height))
    return bands


def _side_box(
    obj: PlacedObject, parts: list[Part], layout: SceneLayout, mm_per_px: float
) -> BoxXYXY:
    """The side-view box: the top view's x-interval (same belt axis), the slabs' y-range
    clipped to the image."""
    ys = [part_bounds_px(p, Pose(0.0, 0.0), mm_per_px) for p in parts]
    y1 = max(min(b[1] for b in ys), 0.0) if ys else 0.0
    y2 = min(max(b[3] for b in ys), float(layout.height_px)) if ys else 0.0
    return (obj.box_xyxy[0], y1, obj.box_xyxy[2], max(y2, y1))


def side_layout(layout: SceneLayout, *, rng: np.random.Generator) -> SceneLayout:
    """The side view of ``layout``: same size and scale, every object as slabs.

    Boxes are ``[x1, y1, x2, y2]`` pixels; ``x1``/``x2`` equal the top view's for every
    object (the belt axis is shared), ``y`` grows downwards from the top of the field, the
    belt lies ``BELT_MARGIN_MM`` above the bottom edge. ``rng`` draws the resting heights.
    """
    mm = layout.mm_per_px
    belt_y_mm = layout.height_px * mm - BELT_MARGIN_MM
    objects: list[PlacedObject] = []
    for obj, band in zip(layout.objects, _bands(layout, rng), strict=True):
        slabs = [
            slab
            for part in obj.parts
            if (slab := _side_part(part, obj.pose, band, mm_per_px=mm, belt_y_mm=belt_y_mm))
            is not None
        ]
        if not slabs:
            continue
        objects.append(
            replace(
                obj,
                parts=tuple(slabs),
                pose=Pose(0.0, 0.0),
                box_xyxy=_side_box(obj, slabs, layout, mm),
            )
        )
    return SceneLayout(layout.width_px, layout.height_px, mm, tuple(objects))


def _side_streams(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    children = np.random.SeedSequence([seed, index]).spawn(SIDE_NOISE_STREAM + 1)
    return (
        np.random.default_rng(children[SIDE_HEIGHTS_STREAM]),
        np.random.default_rng(children[SIDE_NOISE_STREAM]),
    )


def simulate_side(
    preset: ScenePreset,
    *,
    seed: int,
    index: int,
    width_px: int = 640,
    height_px: int = 640,
    registry: KindRegistry | None = None,
    tables: PhysicsTables | None = None,
) -> SimulatedImage:
    """The side view of image ``index`` of the set ``seed`` (the scene
    :func:`detector.sim.simulate.simulate` renders from above); identical on every call."""
    top = scene_layout(
        preset, seed=seed, index=index, width_px=width_px, height_px=height_px, registry=registry
    )
    heights_rng, noise_rng = _side_streams(seed, index)
    return rendered_image(side_layout(top, rng=heights_rng), rng=noise_rng, tables=tables)
