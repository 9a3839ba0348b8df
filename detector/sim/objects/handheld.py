"""Mobile phones and tablets: glass, an aluminium frame, a large Li-ion cell and a board."""

from __future__ import annotations

import numpy as np

from detector.sim.objects.common import ObjectKind, pcb, u
from detector.sim.shapes import Part, box, disc, frame


def _slate(rng: np.random.Generator, w: float, h: float, battery_share: float) -> list[Part]:
    metal_back = rng.random() < 0.6
    parts = [
        box("glass", w, h, 0.8 if metal_back else 1.5, r=w * 0.09),
        box("aluminium" if metal_back else "pc", w, h, 0.8, r=w * 0.09),
        frame("aluminium" if rng.random() < 0.7 else "pc", w, h, 1.5, 7.0, r=w * 0.09),
        box("aluminium", w * 0.9, h * 0.9, 0.4, r=w * 0.05),  # mid-plate behind the display
    ]
    bw, bh = w * 0.8, h * battery_share
    by = h / 2 - bh / 2 - h * 0.12
    parts.append(box("li_ion", bw, bh, u(rng, 3.0, 4.5), 0.0, by, r=2.0))
    board_h = h * (0.9 - battery_share)
    parts += pcb(
        rng,
        w * 0.7,
        board_h,
        0.0,
        -h / 2 + board_h / 2 + h * 0.05,
        n_chips=int(rng.integers(3, 7)),
        t=1.0,
    )
    parts.append(
        box("steel", w * 0.5, board_h * 0.6, 0.3, 0.0, -h / 2 + board_h / 2 + h * 0.05)
    )  # shield can
    parts.append(disc("glass", w * 0.12, 2.0, -w * 0.28, -h * 0.42))  # camera lens
    parts.append(disc("steel", w * 0.16, 1.0, -w * 0.28, -h * 0.42))
    parts.append(box("ndfeb", w * 0.12, 3.0, 2.5, w * 0.25, h * 0.47))  # speaker magnet
    return parts


def phone(rng: np.random.Generator) -> list[Part]:
    """Smartphone: 65-80 x 130-165 mm."""
    return _slate(rng, u(rng, 65.0, 80.0), u(rng, 130.0, 165.0), u(rng, 0.45, 0.6))


def tablet(rng: np.random.Generator) -> list[Part]:
    """Tablet: 135-215 x 200-285 mm (7" to 13")."""
    w = u(rng, 135.0, 215.0)
    parts = _slate(rng, w, w * u(rng, 1.3, 1.45), u(rng, 0.5, 0.65))
    return parts


KINDS = (ObjectKind("phone", "phone", phone), ObjectKind("tablet", "tablet", tablet))
