"""Containers that hold the scene: scanner trays, backpacks, handbags and trolley cases.

A container is parts plus an interior rectangle (in its own frame, mm, centred) where the
scene places objects. Trays are thick-rimmed plastic; bags bring their own metal (zips,
buckles, studs, frame tubes, wheels), which is where many false alarms come from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from detector.sim.clutter import buckle, zipper
from detector.sim.objects.common import u
from detector.sim.shapes import Part, box, disc, frame, pillow, ring, rod, sloped_wall, tube


@dataclass(frozen=True)
class ContainerModel:
    """Container parts (mm, own frame) and the interior ``(width, height)`` in mm for contents."""

    kind: str
    parts: tuple[Part, ...]
    interior_mm: tuple[float, float]


ContainerBuilder = Callable[[np.random.Generator], ContainerModel]


def _placed(parts: list[Part], dx: float, dy: float, angle: float = 0.0) -> list[Part]:
    """Rotate ``parts`` (a sub-assembly centred at 0) by ``angle`` and move it by (dx, dy)."""
    c, s = math.cos(angle), math.sin(angle)
    out = []
    for p in parts:
        x, y = c * p.cx_mm - s * p.cy_mm + dx, s * p.cx_mm + c * p.cy_mm + dy
        out.append(
            Part(
                p.material,
                p.width_mm,
                p.height_mm,
                p.thickness_mm,
                x,
                y,
                p.angle_rad + angle,
                p.radius_mm,
                p.profile,
                p.wall_mm,
            )
        )
    return out


def tray(rng: np.random.Generator) -> ContainerModel:
    """Checkpoint tray: 3 mm ABS floor, 80 mm walls seen edge-on as a thick rim, handles."""
    w, h = u(rng, 420, 470), u(rng, 560, 640)
    parts = [
        box("abs", w, h, 4.0, r=35.0),
        frame("abs", w, h, 4.0, 15.0, r=35.0),  # the rim, seen edge-on
        sloped_wall("abs", w, h, 45.0, 10.0, r=35.0),
        box("abs", w * 0.6, 30.0, 6.0, 0.0, -h / 2 - 12, r=10.0),  # handles
        box("abs", w * 0.6, 30.0, 6.0, 0.0, h / 2 + 12, r=10.0),
    ]
    return ContainerModel("tray", tuple(parts), (w - 60, h - 60))


def backpack(rng: np.random.Generator) -> ContainerModel:
    """Backpack: padded polyester body, straps, zips and plastic or metal buckles."""
    w, h = u(rng, 280, 340), u(rng, 400, 480)
    parts = [pillow("textile", w, h, 25.0, edge=60.0), frame("textile", w, h, 15.0, 40.0, r=60.0)]
    parts += [
        box("textile", 50.0, h * 0.8, 12.0, sx * w * 0.25, 0.0, r=10) for sx in (-1, 1)
    ]  # straps
    parts += _placed(zipper(rng), 0.0, -h / 2 + 40, u(rng, -0.1, 0.1))
    parts += _placed(zipper(rng), 0.0, 0.0, math.pi / 2)
    for sx in (-1, 1):
        parts += _placed(buckle(rng), sx * w * 0.25, h * 0.35)
    if rng.random() < 0.3:  # laptop-compartment frame stays
        parts += [
            rod("aluminium", h * 0.8, 6.0, sx * w * 0.3, 0.0, angle=math.pi / 2) for sx in (-1, 1)
        ]
    return ContainerModel("backpack", tuple(parts), (w - 40, h - 60))


def handbag(rng: np.random.Generator) -> ContainerModel:
    """Handbag: leather body, handles, a zip and metal decorations and feet."""
    w, h = u(rng, 300, 420), u(rng, 220, 320)
    parts = [box("leather", w, h, 6.0, r=30.0), frame("leather", w, h, 8.0, 50.0, r=30.0)]
    parts += [rod("leather", w * 0.5, 14.0, 0.0, -h / 2 - 30 + 60 * i) for i in range(2)]
    parts += _placed(zipper(rng), 0.0, -h / 2 + 20)
    parts += [ring("steel", 25.0, 3.0, 4.0, sx * w * 0.25, -h / 2 - 5) for sx in (-1, 1)]
    parts += [
        disc("steel", 14.0, 4.0, sx * w * 0.4, sy * h * 0.4) for sx in (-1, 1) for sy in (-1, 1)
    ]
    if rng.random() < 0.6:
        parts.append(box("steel", u(rng, 30, 70), u(rng, 10, 25), 1.5, 0.0, h * 0.3, r=3.0))
    return ContainerModel("handbag", tuple(parts), (w - 40, h - 40))


def trolley(rng: np.random.Generator) -> ContainerModel:
    """Cabin trolley: PC shell, aluminium telescopic handle tubes, wheels, zip, steel rivets."""
    w, h = u(rng, 350, 400), u(rng, 480, 550)
    # Hard shells are polycarbonate or, often, aluminium (which scanners show green).
    if rng.random() < 0.6:
        parts = [
            box("aluminium", w, h, 2.0, r=40.0),
            sloped_wall("aluminium", w, h, 15.0, 25.0, r=40.0),
        ]
    else:
        parts = [box("pc", w, h, 5.0, r=40.0), sloped_wall("pc", w, h, 15.0, 60.0, r=40.0)]
    for _ in range(int(rng.integers(2, 6))):  # ribs and inner frame profiles of the shell
        parts.append(box("aluminium", 6.0, h * 0.9, 3.0, u(rng, -w * 0.4, w * 0.4), 0.0))
    parts.append(frame("aluminium", w * 0.9, h * 0.95, 4.0, 8.0, r=20.0))  # lid frame
    for sx in (-1, 1):  # two handle tubes along the back, each a telescoping pair
        x = sx * w * 0.18
        parts += tube("aluminium", h * 0.9, 22.0, 1.2, x, 0.0, angle=math.pi / 2)
        parts += tube("aluminium", h * 0.85, 18.0, 1.2, x, 0.0, angle=math.pi / 2)
    parts.append(box("abs", w * 0.45, 30.0, 25.0, 0.0, -h / 2 + 10, r=8))  # handle grip
    for sx in (-1, 1):  # wheels and their steel axles
        for sy in (-1, 1) if rng.random() < 0.7 else (1,):
            x, y = sx * (w / 2 - 30), sy * (h / 2 - 30)
            parts += [
                disc("pc", 50.0, 25.0, x, y),
                disc("steel", 10.0, 45.0, x, y),
                box("steel", 50.0, 45.0, 1.5, x, y),
            ]
    parts += _placed(zipper(rng), 0.0, 0.0, math.pi / 2)
    return ContainerModel("trolley", tuple(parts), (w - 60, h - 80))


CONTAINERS: Final[dict[str, ContainerBuilder]] = {
    "tray": tray,
    "backpack": backpack,
    "handbag": handbag,
    "trolley": trolley,
}
