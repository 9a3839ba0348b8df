"""Building blocks shared by the object families: object kinds, circuit boards, screws.

An object model is a list of :class:`~detector.sim.shapes.Part` in the object's own frame
(mm, centred on the object). A :class:`ObjectKind` names a builder with its subtype and the
leakguard class it is labelled with (``None`` for clutter that is never labelled).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from detector.sim.shapes import Part, box, disc, frame

Builder = Callable[[np.random.Generator], list[Part]]


@dataclass(frozen=True)
class ObjectKind:
    """A buildable object: ``subtype`` (e.g. ``hdd_3_5``), its class name or ``None``, builder."""

    subtype: str
    class_name: str | None
    build: Builder


def u(rng: np.random.Generator, low: float, high: float) -> float:
    """A uniform draw as a plain float (keeps part fields JSON- and mypy-friendly)."""
    return float(rng.uniform(low, high))


def pcb(
    rng: np.random.Generator,
    w: float,
    h: float,
    x: float = 0.0,
    y: float = 0.0,
    *,
    n_chips: int = 4,
    t: float = 1.6,
) -> list[Part]:
    """A populated circuit board: FR-4, copper planes and traces, packaged chips, passives.

    Chips are epoxy packages (plastic-like) holding a thin silicon die with copper lead
    frames, which is what makes boards read as a fine green/blue mesh on real scans.
    """
    parts = [box("fr4", w, h, t, x, y, r=1.0), box("copper", w * 0.95, h * 0.95, 0.07, x, y)]
    n_traces = int(rng.integers(3, 9))
    for _ in range(n_traces):
        horizontal = rng.random() < 0.5
        length = u(rng, 0.3, 0.9) * (w if horizontal else h)
        tx, ty = x + u(rng, -w / 3, w / 3), y + u(rng, -h / 3, h / 3)
        parts.append(
            box("copper", length, 0.6, 0.1, tx, ty, angle=0.0 if horizontal else math.pi / 2)
        )
    for _ in range(n_chips):
        cw, ch = u(rng, 0.12, 0.35) * w, u(rng, 0.12, 0.35) * h
        cx, cy = x + u(rng, -(w - cw) / 2, (w - cw) / 2), y + u(rng, -(h - ch) / 2, (h - ch) / 2)
        parts.append(box("abs", cw, ch, 1.2, cx, cy))
        parts.append(box("silicon", cw * 0.6, ch * 0.6, 0.3, cx, cy))
        parts.append(box("copper", cw * 1.05, ch * 1.05, 0.15, cx, cy))
    for _ in range(int(rng.integers(4, 14))):
        parts.append(
            box(
                "steel", 1.6, 0.8, 0.6, x + u(rng, -w / 2.2, w / 2.2), y + u(rng, -h / 2.2, h / 2.2)
            )
        )
    return parts


def screws(positions: list[tuple[float, float]], *, d: float = 3.0, t: float = 4.0) -> list[Part]:
    """Steel screws seen head-on at the given (x, y) mm positions."""
    return [disc("steel", d, t, x, y) for x, y in positions]


def casing(
    material: str, w: float, h: float, *, plate: float, wall: float, height: float, r: float
) -> list[Part]:
    """A closed case seen from above: top and bottom plates (``plate`` mm together) plus side
    walls of width ``wall`` seen edge-on over ``height`` mm; what makes cases read as outlines."""
    return [box(material, w, h, plate, r=r), frame(material, w, h, wall, height, r=r)]


def corners(w: float, h: float, inset: float) -> list[tuple[float, float]]:
    """The four corner points of a ``w`` x ``h`` rectangle moved ``inset`` mm inwards."""
    ax, ay = w / 2 - inset, h / 2 - inset
    return [(-ax, -ay), (ax, -ay), (-ax, ay), (ax, ay)]
