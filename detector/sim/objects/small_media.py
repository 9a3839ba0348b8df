"""Small media: USB sticks, pen-type USB memory and SD / microSD cards.

The pen-type USB hides a connector and a tiny board inside an ordinary pen body; it is the
original study's weakest class and is meant to be hard to tell from a plain pen.
"""

from __future__ import annotations

import numpy as np

from detector.sim.objects.common import ObjectKind, casing, pcb, u
from detector.sim.shapes import Part, box, frame, rod


def _connector(x: float, y: float) -> list[Part]:
    """USB-A plug: 12 x 12 mm steel shell with a plastic tongue and copper contacts."""
    return [
        box("steel", 12.0, 12.0, 0.8, x, y),
        frame("steel", 12.0, 12.0, 0.5, 4.5, x, y),
        box("abs", 10.0, 10.0, 2.0, x, y),
        box("copper", 8.0, 3.0, 0.2, x, y),
    ]


def usb_stick(rng: np.random.Generator) -> list[Part]:
    """USB flash drive: 15-22 x 35-60 mm body, plastic or metal, plug at one end."""
    w, h = u(rng, 15.0, 22.0), u(rng, 35.0, 60.0)
    body = "aluminium" if rng.random() < 0.35 else "abs"
    parts = casing(
        body, w, h, plate=1.5 if body == "aluminium" else 3.0, wall=1.0, height=7.0, r=3.0
    )
    parts += _connector(0.0, -h / 2 - 5.0)
    parts += pcb(rng, w * 0.7, h * 0.6, 0.0, 0.0, n_chips=int(rng.integers(1, 3)), t=1.0)
    if rng.random() < 0.5:  # key ring loop
        parts.append(frame(body, 8.0, 6.0, 1.5, 3.0, 0.0, h / 2 + 2.0, r=3.0))
    return parts


def usb_pen(rng: np.random.Generator) -> list[Part]:
    """Pen with built-in USB memory: pen body, clip, refill, hidden plug and board in the cap."""
    length = u(rng, 130.0, 150.0)
    d = u(rng, 10.0, 13.0)
    body = "aluminium" if rng.random() < 0.5 else "abs"
    parts = [
        rod(body, length, d),
        rod("pc", length * 0.55, 2.8, -length * 0.15, 0.0),  # refill
        rod("steel", 6.0, 1.5, -length / 2 - 2.0, 0.0),  # writing tip
        box("steel", length * 0.35, 2.5, 1.0, length * 0.3, -d / 2 - 1.0),  # clip
    ]
    # Hidden memory: plug and board under the cap, along the pen axis.
    parts += [
        box("steel", 12.0, 4.5, 0.6, length / 2 - 9.0, 0.0),
        frame("steel", 12.0, 4.5, 0.4, 2.0, length / 2 - 9.0, 0.0),
        box("fr4", 22.0, 7.0, 0.8, length / 2 - 28.0, 0.0),
        box("silicon", 9.0, 5.0, 0.3, length / 2 - 28.0, 0.0),
        box("abs", 10.0, 6.0, 1.0, length / 2 - 28.0, 0.0),
    ]
    if rng.random() < 0.6:
        parts.append(rod("steel", 12.0, 2.0, -length * 0.05, 0.0))  # spring
    return parts


def _card(rng: np.random.Generator, w: float, h: float, t: float) -> list[Part]:
    """Card body with stacked NAND dies, controller, copper routing layers and gold contacts."""
    chip_w, chip_h = w * u(rng, 0.55, 0.8), h * u(rng, 0.4, 0.6)
    return [
        box("pc", w, h, t, r=1.0),
        box("silicon", chip_w, chip_h, 0.4 * int(rng.integers(1, 4)), 0.0, h * 0.05),
        box("copper", w * 0.85, h * 0.7, 0.1, 0.0, 0.0),
        box("silicon", chip_w * 0.4, chip_h * 0.3, 0.3, 0.0, -h * 0.3),
        box("abs", chip_w, chip_h, 0.5, 0.0, h * 0.05),
        box("copper", w * 0.8, h * 0.08, 0.15, 0.0, -h * 0.42),
        box("fr4", w * 0.9, h * 0.75, 0.25, 0.0, 0.0),
    ]


def sd_card(rng: np.random.Generator) -> list[Part]:
    """SD card: 24 x 32 x 2.1 mm with a write-protect slider."""
    return [*_card(rng, 24.0, 32.0, 2.1), box("abs", 1.5, 4.0, 1.0, -12.0, -6.0)]


def microsd(rng: np.random.Generator) -> list[Part]:
    """microSD card: 11 x 15 x 1 mm, sometimes in a plastic SD adapter."""
    parts = _card(rng, 11.0, 15.0, 1.0)
    if rng.random() < 0.25:
        parts = [p.moved(0.0, 6.0) for p in parts] + [box("pc", 24.0, 32.0, 1.1, r=1.0)]
    return parts


KINDS = (
    ObjectKind("usb_stick", "usb", usb_stick),
    ObjectKind("usb_pen", "usb_pen", usb_pen),
    ObjectKind("sd_card", "sdcard", sd_card),
    ObjectKind("microsd", "sdcard", microsd),
)
