"""Materials and the dual-energy physics tables the renderer evaluates per pixel.

Attenuation comes from NIST data through ``xraydb``; the tube spectrum from ``spekpy``. Both
are evaluated once per process (about 2 s) and reduced to a handful of energy bins so that a
640x640 image costs a few exponentials per pixel: the renderer accumulates one projected
thickness map per material, forms the line integral ``sum_m mu_m(E) t_m`` per bin and sums
the bins with each channel's weights. Keeping several bins (not one effective energy) is what
reproduces beam hardening, which the pseudo-colour display depends on.

The detector is a sandwich: a thin front scintillator gives the low-energy channel, a copper
filter and a thick rear scintillator give the high-energy channel. Both integrate energy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from detector.exceptions import SimulationError

FloatArray = npt.NDArray[np.float32]

#: Tube voltage of common cabin-baggage scanners (140-160 kVp); 140 as in the issue.
TUBE_KVP: Final[float] = 140.0
#: Anode angle in degrees, a typical value for baggage tubes.
ANODE_ANGLE_DEG: Final[float] = 12.0
#: Inherent plus added aluminium filtration in mm: removes the soft tail no bag would pass.
TUBE_FILTER_AL_MM: Final[float] = 3.0
#: Front (low-energy) CsI scintillator thickness in mm: thin, so it absorbs mostly soft photons.
FRONT_CSI_MM: Final[float] = 0.3
#: Copper between the two layers in mm: hardens the beam reaching the rear layer.
MIDDLE_CU_MM: Final[float] = 0.6
#: Rear (high-energy) CsI scintillator thickness in mm.
REAR_CSI_MM: Final[float] = 4.0
#: Number of energy bins: 10 keeps steel's beam hardening within ~1 % of the fine integral.
N_ENERGY_BINS: Final[int] = 10
#: Lowest energy kept (keV): below it the 3 mm Al filter leaves nothing.
MIN_ENERGY_KEV: Final[float] = 15.0


@dataclass(frozen=True)
class Material:
    """A material as mass fractions of chemical formulas and a density in g/cm^3."""

    name: str
    components: tuple[tuple[str, float], ...]
    density_g_cm3: float


#: The materials objects are built from. Densities of textiles, paper stacks and the Li-ion
#: stack are effective values (air, binder and foil layers included), not bulk densities.
MATERIALS: Final[tuple[Material, ...]] = (
    Material("aluminium", (("Al", 1.0),), 2.70),
    Material("steel", (("Fe", 0.72), ("Cr", 0.18), ("Ni", 0.08), ("Mn", 0.02)), 7.9),
    Material("copper", (("Cu", 1.0),), 8.96),
    Material("silicon", (("Si", 1.0),), 2.33),
    Material(
        "fr4",
        (("SiO2", 0.35), ("CaO", 0.12), ("Al2O3", 0.08), ("C18H21O3", 0.40), ("Br", 0.05)),
        1.85,
    ),
    Material("glass", (("SiO2", 0.72), ("Na2O", 0.14), ("CaO", 0.10), ("MgO", 0.04)), 2.5),
    Material(
        "li_ion",
        (("C", 0.22), ("Cu", 0.12), ("Al", 0.06), ("LiCoO2", 0.38), ("C3H4O3", 0.22)),
        2.6,
    ),
    Material("ndfeb", (("Nd2Fe14B", 1.0),), 7.5),
    Material("abs", (("C15H17N", 1.0),), 1.05),
    Material("pc", (("C16H14O3", 1.0),), 1.20),
    Material("pvc", (("C2H3Cl", 1.0),), 1.38),
    Material("paper", (("C6H10O5", 1.0),), 0.80),
    Material("textile", (("C6H10O5", 0.6), ("C10H8O4", 0.4)), 0.35),
    Material("leather", (("C", 0.50), ("H", 0.07), ("N", 0.17), ("O", 0.26)), 0.90),
    Material("water", (("H2O", 1.0),), 1.0),
)

#: Material name -> row index in :attr:`PhysicsTables.mu_per_mm`.
MATERIAL_INDEX: Final[dict[str, int]] = {m.name: i for i, m in enumerate(MATERIALS)}


def material_index(name: str) -> int:
    """Row of material ``name`` in the physics tables; raises on an unknown material."""
    try:
        return MATERIAL_INDEX[name]
    except KeyError:
        raise SimulationError(
            f"unknown material {name!r}; known: {sorted(MATERIAL_INDEX)}"
        ) from None


@dataclass(frozen=True)
class PhysicsTables:
    """Binned physics: ``mu_per_mm`` (materials x bins, 1/mm) and channel weights (2 x bins).

    Channel 0 is low energy, channel 1 high energy; each weight row sums to 1, so an empty
    path gives transmission exactly 1 in both channels.
    """

    energies_kev: FloatArray
    mu_per_mm: FloatArray
    channel_weights: FloatArray


def _mass_mu_cm2_g(
    material: Material, energies_ev: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    import xraydb  # heavy import, only where the tables are built

    total = np.zeros_like(energies_ev)
    for formula, fraction in material.components:
        total += fraction * np.asarray(xraydb.material_mu(formula, energies_ev, density=1.0))
    return total


def _linear_mu_per_mm(
    material: Material, energies_ev: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    return _mass_mu_cm2_g(material, energies_ev) * material.density_g_cm3 / 10.0


def tube_spectrum(
    *, kvp: float = TUBE_KVP
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Photon fluence per keV of the filtered tube at ``kvp``: (energies_kev, fluence)."""
    import spekpy  # heavy import, only where the tables are built

    spek = spekpy.Spek(kvp=kvp, th=ANODE_ANGLE_DEG)
    spek.filter("Al", TUBE_FILTER_AL_MM)
    energies, fluence = spek.get_spectrum()
    return np.asarray(energies, dtype=np.float64), np.asarray(fluence, dtype=np.float64)


def detector_responses(
    energies_kev: npt.NDArray[np.float64], fluence: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Energy deposited per fine energy in the (low, high) layers: shape (2, n_energies)."""
    csi = Material("csi", (("CsI", 1.0),), 4.51)
    cu = Material("cu", (("Cu", 1.0),), 8.96)
    energies_ev = energies_kev * 1e3
    mu_csi = _linear_mu_per_mm(csi, energies_ev)
    front_abs = 1.0 - np.exp(-mu_csi * FRONT_CSI_MM)
    through = np.exp(-mu_csi * FRONT_CSI_MM) * np.exp(
        -_linear_mu_per_mm(cu, energies_ev) * MIDDLE_CU_MM
    )
    rear_abs = through * (1.0 - np.exp(-mu_csi * REAR_CSI_MM))
    return np.stack([fluence * energies_kev * front_abs, fluence * energies_kev * rear_abs])


@functools.lru_cache(maxsize=2)
def physics_tables(*, kvp: float = TUBE_KVP, n_bins: int = N_ENERGY_BINS) -> PhysicsTables:
    """Build (once per process) the binned attenuation and channel-weight tables.

    Bin edges are quantiles of the summed detector response, so every bin carries a similar
    share of the signal; a bin's attenuation is the response-weighted mean over its energies.
    """
    if n_bins < 2:
        raise SimulationError(f"n_bins must be at least 2, got {n_bins}")
    energies, fluence = tube_spectrum(kvp=kvp)
    keep = energies >= MIN_ENERGY_KEV
    energies, fluence = energies[keep], fluence[keep]
    response = detector_responses(energies, fluence)
    total = response.sum(axis=0)
    cdf = np.cumsum(total) / total.sum()
    bin_of = np.minimum((cdf * n_bins).astype(int), n_bins - 1)
    mu_fine = np.stack([_linear_mu_per_mm(m, energies * 1e3) for m in MATERIALS])
    mu = np.zeros((len(MATERIALS), n_bins))
    weights = np.zeros((2, n_bins))
    centres = np.zeros(n_bins)
    for b in range(n_bins):
        sel = bin_of == b
        w = total[sel]
        mu[:, b] = (mu_fine[:, sel] * w).sum(axis=1) / w.sum()
        weights[:, b] = response[:, sel].sum(axis=1)
        centres[b] = (energies[sel] * w).sum() / w.sum()
    weights /= weights.sum(axis=1, keepdims=True)
    return PhysicsTables(
        energies_kev=centres.astype(np.float32),
        mu_per_mm=mu.astype(np.float32),
        channel_weights=weights.astype(np.float32),
    )


def transmission(tables: PhysicsTables, path_mm: FloatArray) -> FloatArray:
    """Transmission of both channels through per-material path lengths.

    ``path_mm`` has shape (n_materials, n_pixels) in mm; the result has shape
    (2, n_pixels), values in (0, 1], channel 0 low energy and channel 1 high energy.
    """
    line_integral = tables.mu_per_mm.T @ path_mm  # (bins, pixels)
    np.negative(line_integral, out=line_integral)
    np.exp(line_integral, out=line_integral)
    return tables.channel_weights @ line_integral
