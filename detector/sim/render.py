"""Render a scene layout into dual-energy transmissions.

Every part adds its projected thickness to its material's map; the polychromatic integral
over the binned spectrum then gives the low- and high-energy transmissions. Because
attenuation adds along the beam, overlapping objects multiply transmissions, and because the
integral is taken after summing thicknesses, beam hardening through stacked materials is
reproduced. Cost is dominated by ``N_ENERGY_BINS`` exponentials per pixel.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detector.sim.materials import PhysicsTables, material_index, physics_tables, transmission
from detector.sim.noise import DetectorModel, apply_detector
from detector.sim.scenes import SceneLayout
from detector.sim.shapes import rasterise_part

FloatArray = npt.NDArray[np.float32]


def thickness_maps(layout: SceneLayout) -> tuple[list[str], FloatArray]:
    """Materials present and their projected thickness maps: (n_materials, H, W) float32, mm.

    One buffer for all maps (not one array each) saves a copy before the physics step.
    """
    names = sorted({part.material for obj in layout.objects for part in obj.parts})
    row = {name: i for i, name in enumerate(names)}
    for name in names:
        material_index(name)  # validates every name before any work
    maps = np.zeros((len(names), layout.height_px, layout.width_px), dtype=np.float32)
    for obj in layout.objects:
        for part in obj.parts:
            rasterise_part(part, obj.pose, layout.mm_per_px, maps[row[part.material]])
    return names, maps


def transmissions(layout: SceneLayout, *, tables: PhysicsTables | None = None) -> FloatArray:
    """Noiseless transmissions, shape (2, H, W), channel 0 low and 1 high energy, in (0, 1]."""
    phys = tables if tables is not None else physics_tables()
    names, maps = thickness_maps(layout)
    h, w = layout.height_px, layout.width_px
    if not names:
        return np.ones((2, h, w), dtype=np.float32)
    rows = np.array([material_index(n) for n in names])
    sub = PhysicsTables(phys.energies_kev, phys.mu_per_mm[rows], phys.channel_weights)
    return transmission(sub, maps.reshape(len(names), -1)).reshape(2, h, w)


def render(
    layout: SceneLayout,
    *,
    rng: np.random.Generator,
    tables: PhysicsTables | None = None,
    detector: DetectorModel | None = None,
    noise: bool = True,
) -> FloatArray:
    """Transmissions as the detector reports them (noise, blur, gain): (2, H, W) float32."""
    clean = transmissions(layout, tables=tables)
    return apply_detector(clean, rng=rng, model=detector) if noise else clean
