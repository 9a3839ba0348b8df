"""Laptops, closed, seen from above: lid over base, cells, board, keyboard, hinges, cooling.

Some laptops carry a 2.5" disk or an M.2 SSD, built by the drive family's own builders.
"""

from __future__ import annotations

import math

import numpy as np

from detector.sim.objects.common import ObjectKind, pcb, screws, u
from detector.sim.objects.drives import hdd_2_5, ssd_m2
from detector.sim.shapes import Part, box, disc, ring, rod


def _cells(rng: np.random.Generator, w: float, y: float) -> list[Part]:
    """Battery pack: prismatic pouch cells or a row of 18650 cylinders along the front edge."""
    if rng.random() < 0.7:
        n = int(rng.integers(2, 5))
        cw = w * 0.75 / n
        return [
            box("li_ion", cw - 3, 60.0, u(rng, 5.0, 7.0), -w * 0.375 + cw * (i + 0.5), y, r=2)
            for i in range(n)
        ]
    n = int(rng.integers(3, 7))
    return [rod("li_ion", 65.0, 18.0, -w * 0.35 + 20.0 * i, y, angle=math.pi / 2) for i in range(n)]


def laptop(rng: np.random.Generator) -> list[Part]:
    """Notebook computer: 290-380 x 200-260 mm, aluminium or plastic shells."""
    w, h = u(rng, 290.0, 380.0), u(rng, 200.0, 260.0)
    shell = "aluminium" if rng.random() < 0.55 else "pc"
    shell_t = 1.2 if shell == "aluminium" else 3.0
    parts = [
        box(shell, w, h, shell_t * 2, r=8.0),  # bottom case and lid back
        box(shell, w - 4, h - 4, shell_t, r=8.0),  # palm rest / top case
        box("glass", w * 0.94, h * 0.92, 0.7, r=5.0),  # display
        box("pc", w * 0.92, h * 0.9, 1.5, r=5.0),  # light guide and films
        box(
            "aluminium" if rng.random() < 0.6 else "steel", w * 0.85, h * 0.4, 0.5, 0.0, -h * 0.05
        ),  # keyboard plate
        box("abs", w * 0.85, h * 0.4, 2.0, 0.0, -h * 0.05),  # keycaps
    ]
    parts += _cells(rng, w, h / 2 - 40.0)
    board_w, board_h = w * u(rng, 0.35, 0.6), h * 0.35
    bx, by = w / 2 - board_w / 2 - 10, -h / 2 + board_h / 2 + 12
    parts += pcb(rng, board_w, board_h, bx, by, n_chips=int(rng.integers(4, 9)), t=1.2)
    fan_x = bx - board_w / 4
    parts += [
        ring("abs", 55.0, 3.0, 8.0, fan_x, by),
        disc("abs", 45.0, 2.0, fan_x, by),
        disc("copper", 14.0, 3.0, fan_x, by),  # motor coil
        disc("ndfeb", 10.0, 2.0, fan_x, by),
        rod(
            "copper", u(rng, 90.0, 160.0), 6.0, fan_x + 60.0, by - 10.0, angle=u(rng, -0.2, 0.2)
        ),  # heat pipe
        box("copper", 30.0, 30.0, 1.0, fan_x + 100.0, by - 10.0),
    ]
    for sx in (-1.0, 1.0):  # hinges along the back edge
        parts.append(box("steel", 25.0, 12.0, 6.0, sx * w * 0.33, -h / 2 + 8))
        parts.append(rod("steel", 25.0, 8.0, sx * w * 0.33, -h / 2 + 4))
    parts += [disc("ndfeb", 8.0, 3.0, sx * w * 0.42, h * 0.25) for sx in (-1.0, 1.0)]  # speakers
    drive = rng.random()
    if drive < 0.2:
        parts += [p.moved(-w * 0.3, h * 0.1) for p in hdd_2_5(rng)]
    elif drive < 0.8:
        parts += [p.moved(-w * 0.15, -h * 0.1) for p in ssd_m2(rng)]
    return parts + screws(
        [(x, y) for x in (-w * 0.45, 0.0, w * 0.45) for y in (-h * 0.42, h * 0.42)], d=3.0, t=3.0
    )


KINDS = (ObjectKind("laptop", "laptop", laptop),)
