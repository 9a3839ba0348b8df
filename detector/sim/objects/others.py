"""Look-alikes labelled ``others``: power banks and portable fans (cells, boards, motors)."""

from __future__ import annotations

import math

import numpy as np

from detector.sim.objects.common import ObjectKind, casing, pcb, u
from detector.sim.shapes import Part, box, disc, ring, rod


def aux_battery(rng: np.random.Generator) -> list[Part]:
    """Power bank: 18650 cells or a pouch cell in a plastic/aluminium case with USB ports."""
    w, h = u(rng, 60.0, 85.0), u(rng, 90.0, 150.0)
    case = "aluminium" if rng.random() < 0.4 else "abs"
    parts = casing(
        case, w, h, plate=1.5 if case == "aluminium" else 3.0, wall=1.5, height=18.0, r=6.0
    )
    if rng.random() < 0.5:
        n = int(max(1, min(4, (w - 6) // 19)))
        parts += [
            rod("li_ion", h * 0.65, 18.0, -9.5 * (n - 1) + 19.0 * i, -h * 0.1, angle=math.pi / 2)
            for i in range(n)
        ]
        parts += [disc("steel", 8.0, 1.0, -9.5 * (n - 1) + 19.0 * i, h * 0.23) for i in range(n)]
    else:
        parts.append(box("li_ion", w * 0.85, h * 0.7, u(rng, 7.0, 12.0), 0.0, -h * 0.1, r=2.0))
    parts += pcb(rng, w * 0.8, h * 0.15, 0.0, h * 0.38, n_chips=2, t=1.2)
    parts += [box("steel", 12.0, 5.0, 4.5, x, h / 2 - 2.0) for x in (-w * 0.2, w * 0.2)]
    return parts


def portable_fan(rng: np.random.Generator) -> list[Part]:
    """Handheld fan: plastic cage and blades, small motor with magnet, a cell in the handle."""
    d = u(rng, 80.0, 120.0)
    handle = u(rng, 90.0, 130.0)
    parts = [
        ring("abs", d, 4.0, 25.0, 0.0, 0.0),
        disc("abs", d * 0.9, 2.5, 0.0, 0.0),
        disc("copper", 18.0, 6.0),  # motor winding
        disc("ndfeb", 14.0, 3.0),
        disc("steel", 22.0, 3.0),
        rod("abs", handle, 28.0, 0.0, d / 2 + handle / 2 - 5.0, angle=math.pi / 2),
        rod("li_ion", 65.0, 18.0, 0.0, d / 2 + handle / 2, angle=math.pi / 2),
        box("copper", 1.0, handle * 0.7, 0.6, 3.0, d / 2 + handle / 2 - 10.0),
    ]
    for i in range(int(rng.integers(6, 12))):  # wire guard spokes
        a = i * math.pi / 6
        parts.append(rod("abs", d * 0.9, 1.5, angle=a))
    parts += pcb(rng, 16.0, 30.0, 0.0, d / 2 + 15.0, n_chips=1, t=1.0)
    return parts


KINDS = (
    ObjectKind("aux_battery", "others", aux_battery),
    ObjectKind("portable_fan", "others", portable_fan),
)
