"""Look-alikes labelled ``others``: power banks and portable fans (cells, boards, motors), and
the drift confuser: metal bag decorations shaped like phones.

The phone-shaped decoration is in no preset's mix; :mod:`detector.sim.drift` switches it on
for the drift scenario.
"""

from __future__ import annotations

import math

import numpy as np

from detector.sim.objects.common import ObjectKind, casing, pcb, u
from detector.sim.shapes import Part, box, disc, frame, ring, rod


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


def _stud_grid(rng: np.random.Generator, w: float, h: float, metal: str) -> list[Part]:
    """Rows of round studs (rivets or rhinestone settings) over the face."""
    cols, rows = int(rng.integers(3, 6)), int(rng.integers(5, 10))
    d = u(rng, 3.5, 7.0)
    return [
        disc(
            metal,
            d,
            1.5,
            -w * 0.35 + w * 0.7 * c / (cols - 1),
            -h * 0.38 + h * 0.76 * r / (rows - 1),
        )
        for c in range(cols)
        for r in range(rows)
    ]


def _bars(rng: np.random.Generator, w: float, h: float, metal: str) -> list[Part]:
    """Embossed diagonal bars (a quilted or striped face)."""
    angle = float(rng.choice([-0.8, 0.8]))
    n = int(rng.integers(5, 10))
    return [
        box(
            metal,
            w * 1.1,
            u(rng, 1.5, 3.0),
            0.8,
            0.0,
            -h * 0.4 + h * 0.8 * i / (n - 1),
            angle=angle,
        )
        for i in range(n)
    ]


def _logo(rng: np.random.Generator, w: float, h: float, metal: str) -> list[Part]:
    """A raised logo plate with a ring of small studs around it."""
    d = u(rng, 0.35, 0.55) * w
    parts = [disc(metal, d, u(rng, 1.0, 2.0)), ring(metal, d + 8.0, 1.5, 1.5)]
    for i in range(8):
        a = i * math.pi / 4
        parts.append(
            disc(metal, 3.0, 1.2, math.cos(a) * (d / 2 + 9.0), math.sin(a) * (d / 2 + 9.0))
        )
    return parts


def phone_decoration(rng: np.random.Generator) -> list[Part]:
    """Metal bag decoration shaped like a phone: 60-78 x 120-160 mm, all thin metal.

    What makes it confusable: a phone's outline and size, a metal rim seen edge-on (the
    phone's frame) and a "camera" ring in one corner. What tells it apart: no Li-ion cell and
    no board (a phone's big orange-green block and fine mesh), only a thin face plate with a
    decoration pattern (studs, embossed bars or a logo), a hanging loop and often a leather
    backing.
    """
    w, h = u(rng, 60.0, 78.0), u(rng, 120.0, 160.0)
    metal = str(rng.choice(["steel", "aluminium", "copper"], p=[0.6, 0.25, 0.15]))
    face_t = {"steel": 0.35, "aluminium": 1.0, "copper": 0.3}[metal] * u(rng, 0.7, 1.4)
    parts = [
        frame(metal, w, h, u(rng, 2.0, 3.5), u(rng, 2.0, 4.0), r=w * 0.09),  # rim
        box(metal, w, h, face_t, r=w * 0.09),  # face plate
        ring(metal, u(rng, 10.0, 16.0), 1.5, 2.5, -w * 0.28, -h * 0.4),  # "camera"
    ]
    if rng.random() < 0.6:
        parts.append(box("leather", w, h, u(rng, 1.5, 3.0), r=w * 0.09))
    pattern = (_stud_grid, _bars, _logo)[int(rng.integers(0, 3))]
    parts += pattern(rng, w, h, metal)
    loop_d = u(rng, 12.0, 18.0)
    parts.append(ring("steel", loop_d, 2.0, 3.0, 0.0, -h / 2 - loop_d / 2 + 1.0))
    for i in range(int(rng.integers(0, 5))):  # a short chain
        parts.append(ring("steel", 7.0, 1.2, 2.0, 0.0, -h / 2 - loop_d - 5.0 * i))
    return parts


KINDS = (
    ObjectKind("aux_battery", "others", aux_battery),
    ObjectKind("portable_fan", "others", portable_fan),
    ObjectKind("phone_decoration", "others", phone_decoration),
)
