"""Parts, poses and the rasteriser that turns them into projected-thickness maps.

Every part is a rounded rectangle in its object's frame (mm): a box has corner radius 0, a
disc or capsule has radius ``min(w, h) / 2``. Three thickness profiles along the beam cover
what baggage holds: ``flat`` (plates, boards, cards), ``round`` (cylinders lying down, domes:
the thickness falls off like a circle's chord towards the rim) and ``frame`` (only a border
of ``wall_mm`` has thickness: casings, trays, rings). Because each shape is a rectangle
Minkowski-summed with a circle, the bounding box of the shape under any affine map is exact,
which gives tight ground-truth boxes without rendering a pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from detector.exceptions import SimulationError

Profile = Literal["flat", "round", "frame", "ramp"]
FloatArray = npt.NDArray[np.float32]

#: Windows smaller than this (pixels) are filled directly: the core search costs more there.
MIN_CORE_WINDOW_PX: Final[int] = 2500
#: Largest out-of-plane tilt; beyond it a flat object turns edge-on and its thickness model fails.
MAX_TILT_RAD: Final[float] = math.radians(65.0)


@dataclass(frozen=True, slots=True)
class Part:
    """One homogeneous piece of an object, in the object's frame (mm, y down).

    ``thickness_mm`` is the path length along the beam at the thickest point (the diameter
    for a ``round`` cylinder); ``radius_mm`` is the corner radius, at most half the smaller
    side; ``wall_mm`` is the border width of a ``frame``.
    """

    material: str
    width_mm: float
    height_mm: float
    thickness_mm: float
    cx_mm: float = 0.0
    cy_mm: float = 0.0
    angle_rad: float = 0.0
    radius_mm: float = 0.0
    profile: Profile = "flat"
    wall_mm: float = 0.0

    def moved(self, dx_mm: float, dy_mm: float) -> Part:
        """The same part shifted by (dx, dy) mm in its object's frame."""
        return replace(self, cx_mm=self.cx_mm + dx_mm, cy_mm=self.cy_mm + dy_mm)


def box(
    material: str,
    w: float,
    h: float,
    t: float,
    x: float = 0.0,
    y: float = 0.0,
    *,
    angle: float = 0.0,
    r: float = 0.0,
) -> Part:
    """A flat (optionally rounded) plate ``w`` x ``h`` x ``t`` mm centred at (x, y)."""
    return Part(material, w, h, t, x, y, angle, min(r, w / 2, h / 2))


def disc(material: str, d: float, t: float, x: float = 0.0, y: float = 0.0) -> Part:
    """A flat disc of diameter ``d`` and thickness ``t`` mm (coins, platters, magnets)."""
    return Part(material, d, d, t, x, y, 0.0, d / 2)


def ring(material: str, d: float, wall: float, t: float, x: float = 0.0, y: float = 0.0) -> Part:
    """A ring of outer diameter ``d``, radial ``wall`` and height ``t`` mm along the beam."""
    return Part(material, d, d, t, x, y, 0.0, d / 2, "frame", wall)


def rod(
    material: str, length: float, d: float, x: float = 0.0, y: float = 0.0, *, angle: float = 0.0
) -> Part:
    """A cylinder of diameter ``d`` lying flat, axis along ``angle`` (pens, tubes, wires)."""
    return Part(material, max(length, d), d, d, x, y, angle, d / 2, "round")


def frame(
    material: str,
    w: float,
    h: float,
    wall: float,
    t: float,
    x: float = 0.0,
    y: float = 0.0,
    *,
    r: float = 0.0,
) -> Part:
    """Walls of an open box (casings, trays) seen from above: border ``wall``, height ``t`` mm."""
    return Part(material, w, h, t, x, y, 0.0, min(r, w / 2, h / 2), "frame", wall)


@dataclass(frozen=True, slots=True)
class Pose:
    """Where an object lies: centre (mm, image frame), in-plane angle, out-of-plane tilt."""

    x_mm: float
    y_mm: float
    angle_rad: float = 0.0
    tilt_rad: float = 0.0

    def matrix(self) -> npt.NDArray[np.float64]:
        """2x2 map from object mm to image mm: rotation after foreshortening by the tilt."""
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        squash = math.cos(min(abs(self.tilt_rad), MAX_TILT_RAD))
        return np.array([[c, -s * squash], [s, c * squash]])

    def thickness_scale(self) -> float:
        """Path-length factor of a flat part tilted out of plane (1 / cos tilt)."""
        return 1.0 / math.cos(min(abs(self.tilt_rad), MAX_TILT_RAD))


#: ``(b00, b01, b10, b11, ox, oy)``: pixel = [[b00, b01], [b10, b11]] @ part_mm + (ox, oy).
Affine = tuple[float, float, float, float, float, float]


def _part_affine(part: Part, pose: Pose, mm_per_px: float) -> Affine:
    """The map from the part's frame (mm) to pixels, in plain floats (called per part)."""
    ca, sa = math.cos(pose.angle_rad), math.sin(pose.angle_rad)
    squash = math.cos(min(abs(pose.tilt_rad), MAX_TILT_RAD))
    m00, m01, m10, m11 = ca, -sa * squash, sa, ca * squash
    c, s = math.cos(part.angle_rad), math.sin(part.angle_rad)
    k = 1.0 / mm_per_px
    return (
        (m00 * c + m01 * s) * k,
        (m01 * c - m00 * s) * k,
        (m10 * c + m11 * s) * k,
        (m11 * c - m10 * s) * k,
        (m00 * part.cx_mm + m01 * part.cy_mm + pose.x_mm) * k,
        (m10 * part.cx_mm + m11 * part.cy_mm + pose.y_mm) * k,
    )


def _bounds(part: Part, aff: Affine) -> tuple[float, float, float, float]:
    b00, b01, b10, b11, ox, oy = aff
    r = part.radius_mm
    hx, hy = part.width_mm / 2 - r, part.height_mm / 2 - r
    ex = abs(b00) * hx + abs(b01) * hy + math.hypot(b00, b01) * r
    ey = abs(b10) * hx + abs(b11) * hy + math.hypot(b10, b11) * r
    return (ox - ex, oy - ey, ox + ex, oy + ey)


def part_bounds_px(part: Part, pose: Pose, mm_per_px: float) -> tuple[float, float, float, float]:
    """Exact ``[x1, y1, x2, y2]`` pixel extent of a part placed at ``pose`` (unclipped)."""
    return _bounds(part, _part_affine(part, pose, mm_per_px))


def rasterise_part(part: Part, pose: Pose, mm_per_px: float, out: FloatArray) -> None:
    """Add the part's projected thickness (mm) into ``out`` (H x W float32, pixel grid)."""
    height, width = out.shape
    aff = _part_affine(part, pose, mm_per_px)
    x1, y1, x2, y2 = _bounds(part, aff)
    c0, c1 = max(math.floor(x1), 0), min(math.ceil(x2), width)
    r0, r1 = max(math.floor(y1), 0), min(math.ceil(y2), height)
    if c0 >= c1 or r0 >= r1:
        return
    b00, b01, b10, b11, _, _ = aff
    det = b00 * b11 - b01 * b10
    if abs(det) < 1e-12:
        raise SimulationError(f"degenerate part placement {part}")
    inv = (b11 / det, -b01 / det, -b10 / det, b00 / det)  # pixels -> part mm
    thick = np.float32(part.thickness_mm * pose.thickness_scale())
    core = None
    hollow = part.profile in ("frame", "ramp")
    if (r1 - r0) * (c1 - c0) >= MIN_CORE_WINDOW_PX:
        inset_mm = part.radius_mm + mm_per_px + (part.wall_mm if hollow else 0.0)
        core = _uniform_core(part, aff, inv, inset_mm)
    if core is None:
        _fill(part, thick, inv, aff, mm_per_px, (r0, r1, c0, c1), out)
        return
    # Inside the core the value is known (0 in a frame's hole, full thickness in a plate):
    # evaluate the shape only on the four strips around it (trays, bags, clothes, books).
    kc0, kc1 = min(max(core[0], c0), c1), max(min(core[2], c1), c0)
    kr0, kr1 = min(max(core[1], r0), r1), max(min(core[3], r1), r0)
    for window in ((r0, kr0, c0, c1), (kr1, r1, c0, c1), (kr0, kr1, c0, kc0), (kr0, kr1, kc1, c1)):
        if window[0] < window[1] and window[2] < window[3]:
            _fill(part, thick, inv, aff, mm_per_px, window, out)
    if not hollow:
        out[kr0:kr1, kc0:kc1] += thick


def _uniform_core(
    part: Part, aff: Affine, inv: tuple[float, float, float, float], inset_mm: float
) -> tuple[int, int, int, int] | None:
    """A pixel rectangle ``(c0, r0, c1, r1)`` surely inside the part shrunk by ``inset_mm``.

    Shrinking by the corner radius (conservative at corners) plus a pixel leaves a
    rectangle where the part is uniform; the largest axis-aligned pixel rectangle of the
    same proportions whose corners map back inside it is found in closed form from the
    forward map ``aff`` and its inverse ``inv`` (pixels -> mm).
    """
    a = part.width_mm / 2 - inset_mm
    b = part.height_mm / 2 - inset_mm
    if a <= 0 or b <= 0:
        return None
    b00, b01, b10, b11, ox, oy = aff
    i00, i01, i10, i11 = inv
    p0 = abs(b00) * a + abs(b01) * b
    q0 = abs(b10) * a + abs(b11) * b
    k = min(a / (abs(i00) * p0 + abs(i01) * q0), b / (abs(i10) * p0 + abs(i11) * q0))
    p, q = k * p0, k * q0
    if p < 4 or q < 4:
        return None
    return (math.ceil(ox - p), math.ceil(oy - q), math.floor(ox + p), math.floor(oy + q))


def _fill(
    part: Part,
    thick: np.float32,
    inv: tuple[float, float, float, float],
    aff: Affine,
    mm_per_px: float,
    window: tuple[int, int, int, int],
    out: FloatArray,
) -> None:
    """Add the part's thickness over the pixel ``window`` ``(r0, r1, c0, c1)`` of ``out``."""
    r0, r1, c0, c1 = window
    # Distances are measured in pixels from here on, so the anti-aliasing band is one pixel.
    i00, i01, i10, i11 = (np.float32(v / mm_per_px) for v in inv)
    xs = np.arange(c0, c1, dtype=np.float32) + np.float32(0.5 - aff[4])
    ys = np.arange(r0, r1, dtype=np.float32) + np.float32(0.5 - aff[5])
    r = np.float32(part.radius_mm / mm_per_px)
    qx = i00 * xs[None, :] + i01 * ys[:, None]
    np.abs(qx, out=qx)
    qx -= np.float32(part.width_mm / 2 / mm_per_px) - r
    qy = i10 * xs[None, :] + i11 * ys[:, None]
    np.abs(qy, out=qy)
    qy -= np.float32(part.height_mm / 2 / mm_per_px) - r
    if r > 0:  # exact signed distance of a rounded rectangle (negative inside)
        inside = np.minimum(np.maximum(qx, qy), 0)
        dist = np.hypot(np.maximum(qx, 0, out=qx), np.maximum(qy, 0, out=qy))
        dist += inside
        dist -= r
    else:  # a box: the Chebyshev distance is exact inside and only rounds the AA band outside
        dist = np.maximum(qx, qy, out=qx)
    value = np.float32(0.5) - dist
    np.clip(value, 0, 1, out=value)  # coverage of the pixel, anti-aliased over one pixel
    if part.profile == "round" and r > 0:
        rel = np.clip((dist + r) / r, 0, 1)
        value *= np.sqrt(1 - rel * rel)
    elif part.profile == "ramp":  # thickest at the rim, falling linearly to 0 at wall depth
        wall_px = np.float32(part.wall_mm / mm_per_px)
        value *= np.clip((dist + wall_px) / wall_px, 0, 1)
    elif part.profile == "frame":
        value *= np.clip(np.float32(0.5 + part.wall_mm / mm_per_px) + dist, 0, 1)
    value *= thick
    out[r0:r1, c0:c1] += value


def pillow(
    material: str,
    w: float,
    h: float,
    t: float,
    x: float = 0.0,
    y: float = 0.0,
    *,
    angle: float = 0.0,
    edge: float = 0.0,
) -> Part:
    """A soft-edged slab (clothes, padding): full thickness inside, thinning over ``edge`` mm."""
    edge_mm = min(edge if edge > 0 else min(w, h) / 3, w / 2, h / 2)
    return Part(material, w, h, t, x, y, angle, edge_mm, "round")


def sloped_wall(
    material: str, w: float, h: float, depth: float, t: float, *, r: float = 0.0
) -> Part:
    """The sloped walls of a tray or shell seen from above: a border ``depth`` mm wide whose
    thickness ramps from ``t`` at the outer rim to 0 inside, a soft gradient as on real scans."""
    return Part(material, w, h, t, 0.0, 0.0, 0.0, min(r, w / 2, h / 2), "ramp", depth)


def tube(
    material: str,
    length: float,
    d: float,
    wall: float,
    x: float = 0.0,
    y: float = 0.0,
    *,
    angle: float = 0.0,
) -> list[Part]:
    """A thin-walled tube lying down (bottle, flask, handle): two walls plus bright edges.

    Seen side-on, a wall of thickness ``wall`` in a tube of diameter ``d`` is crossed twice in
    the middle but along a chord of about ``2 sqrt(d * wall)`` at the rims.
    """
    rim = 2.0 * math.sqrt(d * wall)
    return [
        Part(material, max(length, d), d, 2 * wall, x, y, angle, d / 2),
        Part(material, max(length, d), d, rim, x, y, angle, d / 2, "frame", wall),
    ]
