"""Hard disks (3.5" and 2.5") and SSDs (2.5" case and M.2 stick).

Sizes follow the form-factor standards (SFF-8301, SFF-8201, M.2 22xx); heights and platter
counts vary within what is sold.
"""

from __future__ import annotations

import numpy as np

from detector.sim.objects.common import ObjectKind, corners, pcb, screws, u
from detector.sim.shapes import Part, box, disc, frame


def _hdd(
    rng: np.random.Generator, w: float, h: float, height: float, platter_d: float
) -> list[Part]:
    n_platters = int(rng.integers(1, 5 if height > 20 else 3))
    platter_material = "aluminium" if rng.random() < 0.8 else "glass"
    spin_y = -h / 2 + platter_d / 2 + 4
    parts = [
        box("aluminium", w, h, u(rng, 2.5, 4.0), r=3.0),  # base casting and top cover
        frame("aluminium", w, h, u(rng, 3.0, 5.0), height * 0.8, r=3.0),
        disc(platter_material, platter_d, 1.27 * n_platters, 0.0, spin_y),
        disc("steel", platter_d * 0.27, height * 0.6, 0.0, spin_y),
        disc("ndfeb", platter_d * 0.2, 2.0, 0.0, spin_y),
        disc("steel", platter_d * 0.12, height * 0.7, w * 0.3, h * 0.28),  # actuator pivot
        box(
            "steel",
            5.0,
            platter_d * 0.55,
            1.5 * n_platters,
            w * 0.15,
            h * 0.08,
            angle=u(rng, 0.3, 0.7),
        ),
        box("ndfeb", w * 0.3, w * 0.2, 3.5, w * 0.28, h * 0.4, r=3.0),  # voice-coil magnets
        box("steel", w * 0.34, w * 0.24, 2.0, w * 0.28, h * 0.4, r=3.0),
    ]
    parts += pcb(rng, w * 0.9, h * 0.55, 0.0, h * 0.2, n_chips=int(rng.integers(3, 6)))
    parts.append(box("abs", w * 0.5, 6.0, 5.0, -w * 0.1, h / 2 - 3))  # SATA connector
    parts.append(box("copper", w * 0.45, 2.0, 0.5, -w * 0.1, h / 2 - 3))
    parts += screws(corners(w, h, 5.0)) + screws([(0.0, spin_y)], d=4.0, t=3.0)
    return parts


def hdd_3_5(rng: np.random.Generator) -> list[Part]:
    """3.5" disk: 101.6 x 147 mm, 26 mm high, 95 mm platters."""
    return _hdd(rng, 101.6, 147.0, 26.1, 95.0)


def hdd_2_5(rng: np.random.Generator) -> list[Part]:
    """2.5" disk: 69.85 x 100 mm, 7 or 9.5 mm high, 65 mm platters."""
    return _hdd(rng, 69.85, 100.0, float(rng.choice([7.0, 9.5])), 65.0)


def ssd_2_5(rng: np.random.Generator) -> list[Part]:
    """2.5" SSD: aluminium or plastic case around a board with NAND packages."""
    metal = rng.random() < 0.6
    case = "aluminium" if metal else "pc"
    w, h = 69.85, 100.0
    parts = [box(case, w, h, 1.6 if metal else 3.0, r=2.0), frame(case, w, h, 1.5, 6.0, r=2.0)]
    bw, bh = w * 0.85, u(rng, 0.45, 0.9) * h
    parts += pcb(rng, bw, bh, 0.0, h / 2 - bh / 2 - 6, n_chips=int(rng.integers(2, 8)), t=1.0)
    parts.append(box("abs", w * 0.45, 5.0, 5.0, -w * 0.1, h / 2 - 2.5))
    return parts + screws(corners(w, h, 4.0), d=2.5, t=2.0)


def ssd_m2(rng: np.random.Generator) -> list[Part]:
    """M.2 stick: 22 mm wide, 42/60/80 mm long, chips on one side, gold fingers."""
    length = float(rng.choice([42.0, 60.0, 80.0], p=[0.15, 0.15, 0.7]))
    parts = pcb(rng, 22.0, length, n_chips=int(rng.integers(2, 5)), t=0.8)
    parts.append(box("copper", 18.0, 3.5, 0.2, 0.0, length / 2 - 2))
    parts.append(disc("steel", 4.0, 1.0, 0.0, -length / 2 + 2))
    if rng.random() < 0.3:  # an enclosure around the stick
        parts.append(box("aluminium", 30.0, length + 20, 2.0, r=3.0))
    return parts


KINDS = (
    ObjectKind("hdd_3_5", "hdd", hdd_3_5),
    ObjectKind("hdd_2_5", "hdd", hdd_2_5),
    ObjectKind("ssd_2_5", "ssd", ssd_2_5),
    ObjectKind("ssd_m2", "ssd", ssd_m2),
)
