"""The pseudo-colour image guards see, computed from the two energy channels.

Dual-energy scanners sort each pixel by effective atomic number: at the same high-energy
attenuation, heavier elements attenuate the low channel more. Calibration curves of
``-ln T_low`` against ``-ln T_high`` for a reference organic (water), light inorganic
(aluminium) and metal (steel) give each pixel a material coordinate ``z`` (0 organic,
1 inorganic, 2 metal); ``z`` picks the hue (orange, green, blue) and the attenuation picks
how far the colour goes from white towards full colour and then to black, where nothing
passes. The mapping is a 256x256 lookup table over both attenuations, so colouring a
640x640 image is one indexed gather.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from detector.exceptions import SimulationError
from detector.sim.materials import MATERIAL_INDEX, PhysicsTables, physics_tables, transmission

FloatArray = npt.NDArray[np.float32]
UInt8Array = npt.NDArray[np.uint8]

#: Attenuation (-ln T) covered by the lookup table; T = e^-7 ~ 0.1 % is already black.
MAX_ATTENUATION: Final[float] = 7.0
#: Lookup-table resolution per axis: steps of 0.027 in attenuation are below visible change.
LUT_SIZE: Final[int] = 256
#: Hue anchors along ``z``: organic orange, light-inorganic green, metal blue (RGB, 0-255),
#: picked from the reference scans in ``shared/reference/real-xray``.
HUE_ANCHORS: Final[tuple[tuple[float, tuple[int, int, int]], ...]] = (
    (0.0, (236, 118, 52)),
    (0.55, (236, 118, 52)),
    (0.8, (60, 160, 60)),
    (1.25, (40, 150, 70)),
    (1.6, (30, 70, 160)),
    (2.5, (30, 60, 150)),
)
#: Attenuation scale of the tint: a 3 mm plastic tray floor stays a pale pink.
TINT_SCALE: Final[float] = 0.45
#: Attenuation shown as pure white: scanners calibrate on air, so gain drift and noise on an
#: empty belt (~1-2 %) must not tint the background.
WHITE_BELOW: Final[float] = 0.02
#: Attenuation where darkening starts and its rate: organics stay orange up to ~15 cm, and
#: dense metal turns near-black as often as on the reference scans.
DARK_START: Final[float] = 1.0
DARK_RATE: Final[float] = 0.8

#: :func:`display_lut` of the default physics, shipped with the package: a scanner bridge
#: colours real dual-energy scans with it without the physics packages (xraydb, spekpy).
#: ``tests/detector/sim/test_display_lut.py`` holds it equal to the computed table.
SHIPPED_LUT_PATH: Final[Path] = Path(__file__).with_name("display_lut.npy")

MaterialClass = Literal["background", "organic", "inorganic", "metal", "black"]
#: Display classes in the order of :func:`classify_rgb`'s codes.
MATERIAL_CLASSES: Final[tuple[MaterialClass, ...]] = (
    "background",
    "organic",
    "inorganic",
    "metal",
    "black",
)


def _reference_curve(tables: PhysicsTables, material: str, grid: FloatArray) -> FloatArray:
    """Low-channel attenuation of ``material`` at each high-channel attenuation in ``grid``."""
    thickness = np.geomspace(1e-3, 3000.0, 400).astype(np.float32)
    path = np.zeros((len(tables.mu_per_mm), thickness.size), dtype=np.float32)
    path[MATERIAL_INDEX[material]] = thickness
    t_low, t_high = transmission(tables, path)
    a_low = -np.log(np.maximum(t_low, 1e-30))
    a_high = -np.log(np.maximum(t_high, 1e-30))
    curve: FloatArray = np.interp(grid, a_high, a_low).astype(np.float32)
    return curve


def _hue(z: FloatArray) -> FloatArray:
    """RGB (0-1) for material coordinates ``z``, piecewise linear between the anchors."""
    zs = np.array([a for a, _ in HUE_ANCHORS])
    cols = np.array([c for _, c in HUE_ANCHORS], dtype=np.float32) / 255
    return np.stack([np.interp(z, zs, cols[:, k]) for k in range(3)], axis=-1).astype(np.float32)


@functools.lru_cache(maxsize=2)
def display_lut(tables: PhysicsTables | None = None) -> UInt8Array:
    """RGB lookup table indexed by quantised (low, high) attenuation: (LUT_SIZE, LUT_SIZE, 3)."""
    phys = tables if tables is not None else physics_tables()
    grid = np.linspace(0, MAX_ATTENUATION, LUT_SIZE, dtype=np.float32)
    organic = _reference_curve(phys, "water", grid)
    inorganic = _reference_curve(phys, "aluminium", grid)
    metal = _reference_curve(phys, "steel", grid)
    a_low, a_high = grid[:, None], np.maximum(grid[None, :], 1e-3)
    eps = np.float32(1e-4)
    z_low = (a_low - organic) / np.maximum(inorganic - organic, eps)
    z_high = 1 + (a_low - inorganic) / np.maximum(metal - inorganic, eps)
    z = np.clip(np.where(a_low < inorganic, z_low, z_high), -0.5, 2.5)
    attenuation = np.maximum(0.5 * (a_low + a_high) - WHITE_BELOW, 0)
    tint = 1 - np.exp(-attenuation / TINT_SCALE)
    dark = np.exp(-np.maximum(attenuation - DARK_START, 0) * DARK_RATE)
    rgb = (1 - tint[..., None] + tint[..., None] * _hue(z)) * dark[..., None]
    lut: UInt8Array = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    return lut


@functools.cache
def shipped_display_lut() -> UInt8Array:
    """The shipped :data:`SHIPPED_LUT_PATH` table, (LUT_SIZE, LUT_SIZE, 3) uint8."""
    lut: UInt8Array = np.load(SHIPPED_LUT_PATH, allow_pickle=False)
    if lut.shape != (LUT_SIZE, LUT_SIZE, 3) or lut.dtype != np.uint8:
        raise SimulationError(
            f"{SHIPPED_LUT_PATH} holds {lut.shape} {lut.dtype}, not a display table"
        )
    return lut


def pseudo_colour(
    channels: FloatArray, *, tables: PhysicsTables | None = None, lut: UInt8Array | None = None
) -> UInt8Array:
    """The guard's display image: (H, W, 3) uint8 RGB from (2, H, W) transmissions (low,
    high) in (0, 1]; ``lut`` replaces the table computed from ``tables``."""
    if lut is None:
        lut = display_lut(tables)
    scale = np.float32((LUT_SIZE - 1) / MAX_ATTENUATION)
    idx = np.clip(
        -np.log(np.maximum(channels, 1e-6)) * scale + np.float32(0.5), 0, LUT_SIZE - 1
    ).astype(np.intp)
    out: UInt8Array = lut[idx[0], idx[1]]
    return out


def classify_rgb(rgb: UInt8Array) -> npt.NDArray[np.uint8]:
    """Display class per pixel of any pseudo-colour image, simulated or real: (H, W) codes.

    Codes index :data:`MATERIAL_CLASSES`: 0 near-white background, 1 orange (organic),
    2 green (light inorganic), 3 blue (metal), 4 near-black (nothing passes). Classifying by
    hue lets the realism report compare real scans and simulated ones on the same footing.
    """
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    hi, lo = f.max(axis=-1), f.min(axis=-1)
    out = np.full(rgb.shape[:2], 1, dtype=np.uint8)
    out[(g >= r) & (g >= b)] = 2
    out[(b > r) & (b > g)] = 3
    out[(lo > 225) | (hi - lo < 18) & (lo > 200)] = 0
    out[hi < 60] = 4
    return out
