"""Unlabelled clutter and the confusers that fooled the original system.

Metal bag decorations, buckles, zippers, glasses cases, umbrellas, pens, wallets with coins
and cards, keys, cables and chargers, books, notebooks, folded clothes, bottles and
cosmetics. None of them is ever labelled (``class_name=None``); they are the negatives the
detector must learn to ignore.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from detector.sim.objects.common import ObjectKind, u
from detector.sim.shapes import Part, box, disc, frame, pillow, ring, rod, tube


def bag_decoration(rng: np.random.Generator) -> list[Part]:
    """Studs, rings and a metal logo plate of a fashion bag."""
    parts: list[Part] = []
    for _ in range(int(rng.integers(2, 8))):
        x, y = u(rng, -40, 40), u(rng, -25, 25)
        parts.append(
            ring("steel", u(rng, 8, 30), 2.0, 2.5, x, y)
            if rng.random() < 0.4
            else disc("steel", u(rng, 5, 12), 2.0, x, y)
        )
    parts.append(
        box("steel" if rng.random() < 0.5 else "copper", u(rng, 20, 60), u(rng, 8, 25), 1.2, r=2.0)
    )
    return parts


def buckle(rng: np.random.Generator) -> list[Part]:
    """Belt or strap buckle: metal frame with a bar, or a plastic side-release buckle."""
    w, h = u(rng, 25, 50), u(rng, 20, 40)
    material = "steel" if rng.random() < 0.6 else "abs"
    return [
        frame(material, w, h, 4.0, 4.0, r=3.0),
        rod(material, h, 3.0, 0.0, 0.0, angle=math.pi / 2),
    ]


def zipper(rng: np.random.Generator) -> list[Part]:
    """A closed zip: a strip of metal (or plastic) teeth with its slider and pull."""
    length = u(rng, 120, 450)
    metal = rng.random() < 0.7
    teeth = "steel" if metal else "abs"
    return [
        box(teeth, length, 6.0, 0.9 if metal else 2.5),
        box("textile", length, 30.0, 2.0),
        box("steel", 12.0, 10.0, 4.0, length * u(rng, -0.45, 0.45), 0.0, r=2.0),
        box("steel", 6.0, 20.0, 1.5, length * u(rng, -0.45, 0.45), 12.0, r=2.0),
    ]


def glasses_case(rng: np.random.Generator) -> list[Part]:
    """Clam-shell glasses case (steel spring hinge) with a pair of glasses inside."""
    w, h = u(rng, 140, 165), u(rng, 50, 65)
    parts = [frame("abs", w, h, 3.0, 30.0, r=h / 2), box("steel", w * 0.9, h * 0.9, 0.4, r=h / 2)]
    parts += [
        rod("steel", w * 0.7, 1.2, 0.0, -h / 2 + 3),
        rod("steel", w * 0.7, 1.2, 0.0, h / 2 - 3),
    ]
    if rng.random() < 0.8:
        parts += [disc("pc", 45.0, 3.0, -26.0, 0.0), disc("pc", 45.0, 3.0, 26.0, 0.0)]
        parts += [
            ring("steel", 47.0, 1.5, 2.0, -26.0, 0.0),
            ring("steel", 47.0, 1.5, 2.0, 26.0, 0.0),
        ]
    return parts


def umbrella(rng: np.random.Generator) -> list[Part]:
    """Folded umbrella: steel shaft and ribs in a bundle, a steel tip and a plastic handle."""
    length = u(rng, 220, 320)
    parts = [
        rod("steel", length, 9.0),
        rod("textile", length * 0.9, 45.0),
        rod("steel", 20.0, 6.0, length / 2 + 8),
    ]
    for i in range(int(rng.integers(6, 9))):
        parts.append(
            rod("steel", length * 0.85, 2.0, 0.0, -15.0 + 30.0 * i / 8, angle=u(rng, -0.03, 0.03))
        )
    parts.append(rod("abs", 60.0, 25.0, -length / 2 - 25.0))
    return parts


def pen(rng: np.random.Generator) -> list[Part]:
    """Ballpoint pen or pencil: plastic or metal body, refill, spring and tip."""
    length = u(rng, 120, 150)
    if rng.random() < 0.2:  # pencil: wood-like cellulose around graphite
        return [rod("paper", length, 7.5), rod("paper", length * 0.98, 2.0)]
    body = "aluminium" if rng.random() < 0.25 else "abs"
    parts = [
        rod(body, length, u(rng, 8, 11)),
        rod("pc", length * 0.9, 2.8, -2.0),
        rod("steel", 5.0, 1.5, -length / 2 - 1.5),
    ]
    if rng.random() < 0.6:
        parts.append(rod("steel", 12.0, 2.2, length * 0.25))
    if rng.random() < 0.7:
        parts.append(box("steel", length * 0.35, 2.5, 1.0, length * 0.3, -5.5))
    return parts


def wallet(rng: np.random.Generator) -> list[Part]:
    """Leather wallet with plastic cards (some with chips and antennas) and coins."""
    w, h = u(rng, 90, 115), u(rng, 80, 110)
    parts = [box("leather", w, h, u(rng, 3, 6), r=6.0)]
    for _ in range(int(rng.integers(2, 8))):
        x, y = u(rng, -5, 5), u(rng, -5, 5)
        parts.append(box("pvc", 85.6, 54.0, 0.76, x, y, r=3.0))
        if rng.random() < 0.5:
            parts.append(box("copper", 11.0, 9.0, 0.1, x - 25, y))
    for _ in range(int(rng.integers(0, 9))):
        parts.append(
            disc(
                "copper" if rng.random() < 0.5 else "steel",
                u(rng, 16, 27),
                u(rng, 1.5, 2.2),
                u(rng, -w / 3, w / 3),
                u(rng, -h / 3, h / 3),
            )
        )
    return parts


def keys(rng: np.random.Generator) -> list[Part]:
    """A key ring with a few steel keys, some with plastic heads."""
    parts = [ring("steel", u(rng, 22, 32), 1.8, 3.0)]
    for i in range(int(rng.integers(1, 6))):
        a = i * 0.6 + u(rng, -0.2, 0.2)
        c, s = math.cos(a), math.sin(a)
        length = u(rng, 45, 65)
        parts.append(
            box("steel", length * 0.6, 8.0, 2.0, c * length * 0.55, s * length * 0.55, angle=a)
        )
        parts.append(
            box(
                "abs" if rng.random() < 0.5 else "steel",
                22.0,
                25.0,
                3.0,
                c * 20,
                s * 20,
                angle=a,
                r=6,
            )
        )
    return parts


def cable(rng: np.random.Generator) -> list[Part]:
    """A coiled charging cable (copper in PVC) and usually its charger brick."""
    parts: list[Part] = []
    r = u(rng, 30, 60)
    n = 12
    for i in range(n):
        a0 = 2 * math.pi * i / n
        seg = 2 * math.pi * r / n + 3
        x, y = r * math.cos(a0), r * math.sin(a0)
        parts.append(rod("pvc", seg, 4.0, x, y, angle=a0 + math.pi / 2))
        parts.append(rod("copper", seg, 1.0, x, y, angle=a0 + math.pi / 2))
    if rng.random() < 0.75:
        bx = r + 35
        parts += [
            box("pc", 45.0, 55.0, 25.0, bx, 0.0, r=5),
            box("copper", 20.0, 18.0, 12.0, bx, 5.0),
            box("steel", 16.0, 14.0, 10.0, bx, 5.0),
            box("fr4", 38.0, 45.0, 1.6, bx, 0.0),
            box("steel", 3.0, 15.0, 1.5, bx - 6.0, -32.0),
            box("steel", 3.0, 15.0, 1.5, bx + 6.0, -32.0),
        ]
    return parts


def book(rng: np.random.Generator) -> list[Part]:
    """A hard- or paperback book: a thick block of paper."""
    w, h = u(rng, 130, 220), u(rng, 190, 290)
    return [box("paper", w, h, u(rng, 10, 45), r=2.0), box("paper", w + 4, h + 4, 3.0, r=2.0)]


def notebook(rng: np.random.Generator) -> list[Part]:
    """A notebook, often spiral-bound with a row of steel wire loops."""
    w, h = u(rng, 140, 210), u(rng, 200, 297)
    parts = [box("paper", w, h, u(rng, 5, 15), r=2.0)]
    if rng.random() < 0.6:
        n = int(h // 9)
        parts += [ring("steel", 7.0, 0.9, 1.5, -w / 2 + 3, -h / 2 + 5 + 9 * i) for i in range(n)]
    return parts


def clothes(rng: np.random.Generator) -> list[Part]:
    """Folded clothes: soft-edged textile layers, sometimes with buttons or a metal zip."""
    w, h = u(rng, 150, 300), u(rng, 120, 260)
    parts = [pillow("textile", w, h, u(rng, 20, 60), angle=u(rng, -0.2, 0.2))]
    for _ in range(int(rng.integers(2, 6))):
        lw, lh = w * u(rng, 0.3, 0.9), h * u(rng, 0.3, 0.9)
        cx, cy = u(rng, -w / 4, w / 4), u(rng, -h / 4, h / 4)
        parts.append(pillow("textile", lw, lh, u(rng, 8, 40), cx, cy, angle=u(rng, -0.6, 0.6)))
    for _ in range(int(rng.integers(0, 5))):
        material = "abs" if rng.random() < 0.7 else "steel"
        parts.append(
            disc(material, u(rng, 10, 16), 2.5, u(rng, -w / 3, w / 3), u(rng, -h / 3, h / 3))
        )
    if rng.random() < 0.2:
        parts.append(box("steel", w * 0.6, 5.0, 0.9, 0.0, u(rng, -h / 3, h / 3)))
    return parts


def bottle(rng: np.random.Generator) -> list[Part]:
    """A drink bottle lying down: PET or glass with water, or an aluminium can or flask."""
    kind = rng.random()
    if kind < 0.2:  # steel thermos flask
        d, length = u(rng, 60, 75), u(rng, 180, 260)
        return [*tube("steel", length, d, 0.8), rod("water", length - 10, d - 4)]
    d, length = u(rng, 55, 80), u(rng, 160, 300)
    wall = "glass" if kind < 0.35 else ("aluminium" if kind < 0.45 else "abs")
    fill = u(rng, 0.3, 1.0)
    parts = tube(wall, length, d, 3.0 if wall == "glass" else 0.4)
    return [
        *parts,
        rod("water", length * fill, d - 3, -length * (1 - fill) / 2),
        rod("abs", 20.0, 30.0, length / 2 + 8),
    ]


def cosmetics(rng: np.random.Generator) -> list[Part]:
    """Small cosmetics: a glass jar of cream, an aluminium tube, a plastic bottle of lotion."""
    parts: list[Part] = []
    for _ in range(int(rng.integers(1, 4))):
        x, y = u(rng, -40, 40), u(rng, -40, 40)
        kind = rng.random()
        if kind < 0.35:
            d = u(rng, 35, 60)
            parts += [
                ring("glass", d, 4.0, 40.0, x, y),
                disc("water", d - 8, 30.0, x, y),
                disc("abs", d, 3.0, x, y),
            ]
        elif kind < 0.6:
            parts += [
                box(
                    "aluminium",
                    u(rng, 30, 45),
                    u(rng, 100, 160),
                    0.6,
                    x,
                    y,
                    angle=u(rng, 0, math.pi),
                    r=5,
                ),
                box("water", 25, 80, 10, x, y),
            ]
        else:
            parts += [
                rod("water", u(rng, 80, 150), u(rng, 30, 50), x, y, angle=u(rng, 0, math.pi)),
                disc("abs", 25, 20, x, y),
            ]
    return parts


CLUTTER_KINDS: Final[tuple[ObjectKind, ...]] = tuple(
    ObjectKind(fn.__name__, None, fn)
    for fn in (
        bag_decoration,
        buckle,
        zipper,
        glasses_case,
        umbrella,
        pen,
        wallet,
        keys,
        cable,
        book,
        notebook,
        clothes,
        bottle,
        cosmetics,
    )
)
