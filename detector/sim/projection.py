"""Threat image projection (TIP): a simulated storage medium composited into a scan.

Checkpoint scanners measure guard attention by projecting a stored threat image into a
real bag before the operator sees it (#20). Here the threat is one of the simulator's own
storage media, rendered by the same physics as every simulated scan (parts, projected
thicknesses, dual-energy transmissions, detector noise, the guards' pseudo-colour display),
and placed inside the bag: its centre is drawn within the part of the frame that is not
background, so a medium does not float on the empty belt, and the whole object stays in
the image.

Compositing works on the display image a scanner exports, so it needs no raw planes and
serves PNG-only scanners too. Transmissions multiply along the beam and the display maps
no attenuation to white, so the frame and the medium's own rendering (on white) are
multiplied channel by channel: what lies under the medium stays visible through it, as
in a real scan. That product is exact for transmissions and a close approximation for the
colours (the display table is monotonic in attenuation), the usual TIP compositing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from detector.exceptions import SimulationError
from detector.sim.display import pseudo_colour
from detector.sim.materials import PhysicsTables
from detector.sim.objects import MEDIA_KINDS, ObjectKind
from detector.sim.render import render, scene_window
from detector.sim.scenes import FIELD_MM, BoxXYXY, PlacedObject, SceneLayout, object_extent
from detector.sim.shapes import Pose
from leakguard.classes import CLASS_IDS, is_storage_medium

__all__ = ["PROJECTABLE_KINDS", "ProjectedMedium", "project_medium"]

#: The kinds a projection draws from: every storage-media subtype (never a look-alike,
#: which must not alarm and so could not be "found").
PROJECTABLE_KINDS: Final[tuple[ObjectKind, ...]] = tuple(
    kind
    for kind in MEDIA_KINDS
    if kind.class_name is not None and is_storage_medium(CLASS_IDS[kind.class_name])
)
#: A pixel whose every channel is at least this bright is belt, not bag: the display shows
#: an empty belt white and the faintest tray floor stays a darker pale pink.
BACKGROUND_MIN: Final[int] = 235
#: Tries to find a pose whose whole box fits in the image before a kind is given up on.
MAX_POSE_TRIES: Final[int] = 20
#: Smallest frame side: the simulator's own minimum.
MIN_SIDE_PX: Final[int] = 32

UInt8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ProjectedMedium:
    """A frame with a medium in it: ``rgb`` (H, W, 3) uint8, the medium's ``class_name``
    and ``subtype``, and its exact ``[x1, y1, x2, y2]`` pixel box (inside the image)."""

    rgb: UInt8Array
    class_name: str
    subtype: str
    box_xyxy: BoxXYXY


def _bag_region(rgb: UInt8Array) -> tuple[int, int, int, int]:
    """``(x1, y1, x2, y2)`` pixels around everything that is not background; the middle
    half of the image when the frame is empty."""
    height, width = rgb.shape[:2]
    occupied: npt.NDArray[np.bool_] = np.any(rgb < BACKGROUND_MIN, axis=-1)
    rows = np.flatnonzero(np.any(occupied, axis=1))
    cols = np.flatnonzero(np.any(occupied, axis=0))
    if rows.size == 0:
        return width // 4, height // 4, 3 * width // 4, 3 * height // 4
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _place(
    kind: ObjectKind,
    rng: np.random.Generator,
    *,
    width: int,
    height: int,
    mm_per_px: float,
    region: tuple[int, int, int, int],
) -> PlacedObject | None:
    """The medium at a random pose with its centre in ``region`` and its whole box in the
    image, or None when ``MAX_POSE_TRIES`` poses did not fit (the object is too large)."""
    parts = tuple(kind.build(rng))
    for _ in range(MAX_POSE_TRIES):
        x_px = rng.uniform(region[0], region[2])
        y_px = rng.uniform(region[1], region[3])
        pose = Pose(x_px * mm_per_px, y_px * mm_per_px, rng.uniform(0, 2 * math.pi))
        box = object_extent(parts, pose, mm_per_px)
        if box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height:
            class_id = CLASS_IDS[kind.class_name] if kind.class_name is not None else None
            return PlacedObject(kind.subtype, class_id, parts, pose, box)
    return None


def project_medium(
    rgb: UInt8Array,
    *,
    rng: np.random.Generator,
    kinds: tuple[ObjectKind, ...] = PROJECTABLE_KINDS,
    tables: PhysicsTables | None = None,
) -> ProjectedMedium:
    """``rgb`` (H, W, 3) uint8 pseudo-colour with one medium of ``kinds`` projected into it.

    Everything random comes from ``rng``, so one seed gives one projection. The medium has
    the simulator's scale for a frame of this size (the scanned field across the longer
    side). Raises :class:`SimulationError` for a frame that is no RGB image or too small,
    or when no kind fits in it.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise SimulationError(f"a projection needs an (H, W, 3) uint8 image, got {rgb.shape}")
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE_PX:
        raise SimulationError(f"image must be at least {MIN_SIDE_PX} px, got {width}x{height}")
    if not kinds:
        raise SimulationError("no kinds to project")
    for kind in kinds:
        if kind.class_name is None or not is_storage_medium(CLASS_IDS[kind.class_name]):
            raise SimulationError(f"kind {kind.subtype!r} is no storage medium: not projectable")
    mm_per_px = FIELD_MM / max(width, height)
    region = _bag_region(rgb)
    for index in rng.permutation(len(kinds)):
        kind = kinds[int(index)]
        placed = _place(kind, rng, width=width, height=height, mm_per_px=mm_per_px, region=region)
        if placed is not None:
            break
    else:
        raise SimulationError(f"no medium fits in a {width}x{height} image")
    layout = SceneLayout(width, height, mm_per_px, (placed,))
    r0, r1, c0, c1 = scene_window(layout)
    raw = render(layout, rng=rng, tables=tables)
    medium = pseudo_colour(raw[:, r0:r1, c0:c1], tables=tables).astype(np.uint16)
    out = rgb.copy()
    under = out[r0:r1, c0:c1].astype(np.uint16)
    # Rounded product of the normalised colours: white (255) leaves the frame unchanged.
    out[r0:r1, c0:c1] = ((under * medium + 127) // 255).astype(np.uint8)
    return ProjectedMedium(out, str(kind.class_name), placed.subtype, placed.box_xyxy)
