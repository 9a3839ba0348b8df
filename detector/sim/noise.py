"""Detector effects that keep simulated images from being clean: quantum noise, line-scan
blur, per-row gain and offset.

A baggage scanner is a line scanner: one column of detector pixels (image rows here) reads
the belt as it moves (along image columns). Hence blur is stronger along the scan direction
(belt motion and integration time) than across it (scintillator crosstalk), and gain/offset
errors repeat along each detector row, giving faint streaks as on real scans.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

#: Photons per pixel reaching an unattenuated detector: ~0.7 % noise on an empty belt.
DEFAULT_PHOTONS: Final[float] = 20000.0
#: Smallest transmission a detector reports: its dark-current floor.
MIN_TRANSMISSION: Final[float] = 1e-4
#: Size of the per-process bank of standard-normal samples (16 MiB): drawing 0.8 M fresh
#: normals costs ~9 ms an image, a slice of the bank at a random offset costs nothing.
NOISE_BANK_SIZE: Final[int] = 1 << 22
#: Seed of the bank: fixed, so images stay a function of (seed, index) alone.
NOISE_BANK_SEED: Final[int] = 20240404


@dataclass(frozen=True)
class DetectorModel:
    """Noise and blur settings; the defaults resemble a 140 kVp cabin-baggage scanner."""

    photons: float = DEFAULT_PHOTONS
    #: 3-tap blur weight of each neighbour along the scan direction and across it.
    scan_blur: float = 0.25
    cross_blur: float = 0.12
    #: Standard deviations of per-row gain, per-row offset and whole-image gain.
    row_gain_sd: float = 0.004
    row_offset_sd: float = 0.001
    global_gain_sd: float = 0.005


@functools.lru_cache(maxsize=1)
def _noise_bank() -> FloatArray:
    bank: FloatArray = np.random.default_rng(NOISE_BANK_SEED).standard_normal(
        NOISE_BANK_SIZE, dtype=np.float32
    )
    return bank


def standard_normal(shape: tuple[int, ...], rng: np.random.Generator) -> FloatArray:
    """Standard-normal noise of ``shape``: a random slice of the bank, fresh draws if larger."""
    size = int(np.prod(shape))
    if size > NOISE_BANK_SIZE // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    start = int(rng.integers(0, NOISE_BANK_SIZE - size))
    sign = np.float32(1.0 if rng.random() < 0.5 else -1.0)
    return _noise_bank()[start : start + size].reshape(shape) * sign


def _blur3(image: FloatArray, weight: float, axis: int) -> FloatArray:
    """3-tap [w, 1 - 2w, w] blur along ``axis`` with edge replication (new array)."""
    src = np.moveaxis(image, axis, -1)
    w = np.float32(weight)
    out = src * np.float32(1 - 2 * weight)
    out[..., 1:] += w * src[..., :-1]
    out[..., :-1] += w * src[..., 1:]
    out[..., 0] += w * src[..., 0]
    out[..., -1] += w * src[..., -1]
    blurred: FloatArray = np.moveaxis(out, -1, axis)
    return blurred


def apply_detector(
    channels: FloatArray, *, rng: np.random.Generator, model: DetectorModel | None = None
) -> FloatArray:
    """Add noise, blur and gain/offset to noiseless transmissions.

    ``channels`` has shape (2, H, W), values in (0, 1] (low, high energy); the result has the
    same shape and is clipped to [MIN_TRANSMISSION, 1].
    """
    m = model if model is not None else DetectorModel()
    _, height, _ = channels.shape
    noisy = standard_normal(channels.shape, rng)
    noisy *= np.sqrt(channels * np.float32(1.0 / m.photons))  # Poisson: variance ~ signal
    noisy += channels
    if m.scan_blur > 0:
        noisy = _blur3(noisy, m.scan_blur, axis=2)
    if m.cross_blur > 0:
        noisy = _blur3(noisy, m.cross_blur, axis=1)
    gain = 1 + rng.normal(0, m.row_gain_sd, (2, height, 1)) + rng.normal(0, m.global_gain_sd)
    noisy *= gain.astype(np.float32)
    noisy += rng.normal(0, m.row_offset_sd, (2, height, 1)).astype(np.float32)
    np.clip(noisy, MIN_TRANSMISSION, 1.0, out=noisy)
    return noisy
