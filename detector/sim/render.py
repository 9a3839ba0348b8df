"""Render a scene layout into dual-energy transmissions.

Every part adds its projected thickness to its material's map; the polychromatic integral
over the binned spectrum then gives the low- and high-energy transmissions. Because
attenuation adds along the beam, overlapping objects multiply transmissions, and because the
integral is taken after summing thicknesses, beam hardening through stacked materials is
reproduced. Cost is dominated by ``N_ENERGY_BINS`` exponentials per pixel, so the work is
done only inside the scene's window (the box around all objects): outside it the beam meets
nothing, and a scanner calibrated on air shows exactly white there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import numpy as np
import numpy.typing as npt

from detector.sim.materials import PhysicsTables, material_index, physics_tables, transmission
from detector.sim.noise import DetectorModel, apply_detector
from detector.sim.scenes import SceneLayout
from detector.sim.shapes import rasterise_part

FloatArray = npt.NDArray[np.float32]
#: ``(r0, r1, c0, c1)``: rows r0..r1-1 and columns c0..c1-1 of the image.
Window = tuple[int, int, int, int]

#: Pixels kept around the objects' extent: room for anti-aliasing and the 3-tap blur.
WINDOW_MARGIN_PX: Final[int] = 3


def scene_window(layout: SceneLayout) -> Window:
    """The pixel window holding every object (plus a margin), clipped to the image."""
    if not layout.objects:
        return (0, 0, 0, 0)
    boxes = np.array([o.box_xyxy for o in layout.objects])
    c0 = max(int(np.floor(boxes[:, 0].min())) - WINDOW_MARGIN_PX, 0)
    r0 = max(int(np.floor(boxes[:, 1].min())) - WINDOW_MARGIN_PX, 0)
    c1 = min(int(np.ceil(boxes[:, 2].max())) + WINDOW_MARGIN_PX, layout.width_px)
    r1 = min(int(np.ceil(boxes[:, 3].max())) + WINDOW_MARGIN_PX, layout.height_px)
    return (r0, max(r1, r0), c0, max(c1, c0))


def thickness_maps(
    layout: SceneLayout, window: Window | None = None
) -> tuple[list[str], FloatArray]:
    """Materials present and their thickness maps over ``window`` (default: the whole image).

    Returns names and an (n_materials, h, w) float32 array in mm; one buffer for all maps
    (not one array each) saves a copy before the physics step.
    """
    r0, r1, c0, c1 = window if window is not None else (0, layout.height_px, 0, layout.width_px)
    names = sorted({part.material for obj in layout.objects for part in obj.parts})
    row = {name: i for i, name in enumerate(names)}
    for name in names:
        material_index(name)  # validates every name before any work
    maps = np.zeros((len(names), r1 - r0, c1 - c0), dtype=np.float32)
    dx_mm, dy_mm = c0 * layout.mm_per_px, r0 * layout.mm_per_px
    for obj in layout.objects:
        pose = replace(obj.pose, x_mm=obj.pose.x_mm - dx_mm, y_mm=obj.pose.y_mm - dy_mm)
        for part in obj.parts:
            rasterise_part(part, pose, layout.mm_per_px, maps[row[part.material]])
    return names, maps


def _window_transmissions(
    layout: SceneLayout, window: Window, tables: PhysicsTables | None
) -> FloatArray:
    phys = tables if tables is not None else physics_tables()
    names, maps = thickness_maps(layout, window)
    r0, r1, c0, c1 = window
    if not names:
        return np.ones((2, r1 - r0, c1 - c0), dtype=np.float32)
    rows = np.array([material_index(n) for n in names])
    sub = PhysicsTables(phys.energies_kev, phys.mu_per_mm[rows], phys.channel_weights)
    return transmission(sub, maps.reshape(len(names), -1)).reshape(2, r1 - r0, c1 - c0)


def transmissions(layout: SceneLayout, *, tables: PhysicsTables | None = None) -> FloatArray:
    """Noiseless transmissions, shape (2, H, W), channel 0 low and 1 high energy, in (0, 1]."""
    full = np.ones((2, layout.height_px, layout.width_px), dtype=np.float32)
    r0, r1, c0, c1 = window = scene_window(layout)
    if r1 > r0 and c1 > c0:
        full[:, r0:r1, c0:c1] = _window_transmissions(layout, window, tables)
    return full


def render(
    layout: SceneLayout,
    *,
    rng: np.random.Generator,
    tables: PhysicsTables | None = None,
    detector: DetectorModel | None = None,
    noise: bool = True,
) -> FloatArray:
    """Transmissions as the detector reports them (noise, blur, gain): (2, H, W) float32.

    Detector effects apply inside the scene window; outside it the image is exactly 1.
    """
    full = np.ones((2, layout.height_px, layout.width_px), dtype=np.float32)
    r0, r1, c0, c1 = window = scene_window(layout)
    if r1 > r0 and c1 > c0:
        clean = _window_transmissions(layout, window, tables)
        full[:, r0:r1, c0:c1] = apply_detector(clean, rng=rng, model=detector) if noise else clean
    return full
